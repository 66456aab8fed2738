import { readFileSync } from 'node:fs';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { cleanEnv, ROOT, runCli } from './harness';

/** The commands of the README's quick start (between its `quick-start` markers). */
function quickStartCommands(): string[] {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const block = /<!-- quick-start -->\n```sh\n([\s\S]*?)```\n<!-- \/quick-start -->/.exec(readme);
  if (!block) throw new Error('README.md has no quick-start block');
  return block[1]!.trim().split('\n');
}

describe('README quick start', () => {
  it('names npm ci and one export command against the bundled sandbox', () => {
    const commands = quickStartCommands();
    expect(commands[0]).toBe('npm ci');
    expect(commands).toHaveLength(2);
    expect(commands[1]).toMatch(/^npm run export -- --segment dev\/examples\/\S+ --list 1 --email Email/);
    // `npm run export` is the build, then the compiled CLI: running the CLI below is that command.
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
      bin: Record<string, string>;
    };
    expect(pkg.scripts.export).toBe('npm run build --silent && node dist/dev/cli/main.js');
    expect(pkg.bin['segment-export']).toBe('dist/dev/cli/main.js');
  });

  it('runs the export command exactly as written, ending with the example in the sandbox', async () => {
    const args = quickStartCommands()[1]!
      .replace(/^npm run export -- /, '')
      .split(' ');
    const result = await runCli(args, cleanEnv());
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain('the bundled sandbox (no --ac-url given)');
    expect(result.stdout).toMatch(/Run r\w+ succeededWithRejections/);
    expect(result.stdout).toContain('rows 42: 40 valid, 1 rejected, 1 duplicates');
    // The bundled sandbox keeps its contacts in the data dir with the export's snapshot: a first run and a
    // re-run (which sends nothing) both end with the example in the list.
    expect(result.stdout).toContain('Sandbox: 40 contacts, 40 subscribed to list 1');
  }, 120_000);
});
