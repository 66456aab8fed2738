import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  expandGlob,
  globToRegExp,
  mergeSettingsIntoEnv,
  readLocalSettings,
  resolveEntryPoints,
  resolveSettingReferences,
  resolveSettingReferencesDeep,
} from '../../../dev/host/appFiles';

describe('appFiles', () => {
  let dir: string;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'host-appfiles-'));
    for (const f of [
      'dist/functions/a.js',
      'dist/functions/b.js',
      'dist/functions/sub/c.js',
      'dist/other.js',
      'node_modules/x/d.js',
    ]) {
      fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
      fs.writeFileSync(path.join(dir, f), '');
    }
  });

  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('expands a single-level glob the way package.json main is used', () => {
    expect(expandGlob(dir, 'dist/functions/*.js').map((f) => path.relative(dir, f))).toEqual([
      'dist/functions/a.js',
      'dist/functions/b.js',
    ]);
  });

  it('expands ** without entering node_modules', () => {
    expect(expandGlob(dir, '**/*.js').map((f) => path.relative(dir, f))).toEqual([
      'dist/functions/a.js',
      'dist/functions/b.js',
      'dist/functions/sub/c.js',
      'dist/other.js',
    ]);
  });

  it('accepts a plain path and braces', () => {
    expect(expandGlob(dir, './dist/other.js')).toEqual([path.join(dir, 'dist/other.js')]);
    expect(globToRegExp('dist/{a,b}.js').test('dist/b.js')).toBe(true);
    expect(globToRegExp('dist/{a,b}.js').test('dist/c.js')).toBe(false);
  });

  it('fails naming the pattern when main matches nothing', () => {
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ main: 'dist/missing/*.js' }));
    expect(() => resolveEntryPoints(dir)).toThrow('"dist/missing/*.js" matches no file');
  });

  it('reads Values and Host.LocalHttpPort from local.settings.json', () => {
    fs.writeFileSync(
      path.join(dir, 'local.settings.json'),
      JSON.stringify({
        IsEncrypted: false,
        Values: { A: 'x', N: 5, B: true },
        Host: { LocalHttpPort: 7072 },
      }),
    );
    expect(readLocalSettings(dir)).toEqual({ values: { A: 'x', N: '5', B: 'true' }, localHttpPort: 7072 });
  });

  it('keeps existing environment values when merging settings', () => {
    const env: NodeJS.ProcessEnv = { A: 'env' };
    mergeSettingsIntoEnv({ A: 'file', B: 'file' }, env);
    expect(env).toEqual({ A: 'env', B: 'file' });
  });

  it('substitutes %SETTING% references and fails naming a missing one', () => {
    const env = { SCHEDULE: '0 */5 * * * *', C: 'box' };
    expect(resolveSettingReferences('%SCHEDULE%', 'x', env)).toBe('0 */5 * * * *');
    expect(resolveSettingReferences('%C%/in/{name}', 'x', env)).toBe('box/in/{name}');
    expect(resolveSettingReferencesDeep({ a: ['%C%'], n: 1 }, 'host.json', env)).toEqual({
      a: ['box'],
      n: 1,
    });
    expect(() => resolveSettingReferences('%NOPE%', 'Function "f"', env)).toThrow(
      `Function "f": '%NOPE%' does not resolve to a value`,
    );
  });
});
