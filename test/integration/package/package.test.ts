/**
 * `npm run package` builds the zip that is published; this test builds it (from `dist/`, so `npm run build`
 * first, as `npm test` does), unpacks it into an empty folder outside the checkout and loads the app from
 * it in a fresh Node process that sees only the zip's production dependencies. The process answers
 * `require('@azure/functions-core')` with a recorder, as the Functions worker does in Azure, so every
 * `app.http` / `app.generic` / Durable registration of the app is seen.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import yauzl from 'yauzl';

const root = path.resolve(__dirname, '../../..');
const builder = path.join(root, 'dist', 'dev', 'package', 'buildPackage.js');

/** Runs in the child: records registrations, loads `main` of ./package.json, reports what was loaded. */
const LOADER = `
const Module = require('node:module');
const fs = require('node:fs');
const path = require('node:path');
const registered = [];
let model;
class Disposable { static from() { return new Disposable(); } dispose() {} }
const core = {
  version: '3.10.1',
  hostVersion: '4.1000.0',
  registerFunction(metadata) { registered.push({ name: metadata.name, bindings: metadata.bindings }); return new Disposable(); },
  registerHook() { return new Disposable(); },
  setProgrammingModel(m) { model = m; },
  getProgrammingModel() { return model; },
  log() {},
  Disposable,
};
const originalRequire = Module.prototype.require;
Module.prototype.require = function (id) {
  return id === '@azure/functions-core' ? core : originalRequire.apply(this, arguments);
};
const main = JSON.parse(fs.readFileSync('package.json', 'utf8')).main;
if (!/^[\\w/.-]+\\/\\*\\.js$/.test(main)) throw new Error('unexpected main ' + main);
const dir = path.resolve(path.dirname(main));
for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.js')).sort()) require(path.join(dir, file));
setImmediate(() => {
  process.stdout.write(JSON.stringify({
    main,
    files: fs.readdirSync(dir).filter((f) => f.endsWith('.js')).sort(),
    registered,
    programmingModel: model && { name: model.name, version: model.version },
    loaded: Object.keys(require.cache),
  }));
});
`;

interface LoadReport {
  main: string;
  files: string[];
  registered: { name: string; bindings: Record<string, { type: string }> }[];
  programmingModel?: { name: string; version: string };
  loaded: string[];
}

function loadApp(cwd: string): LoadReport {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: os.tmpdir() };
  const out = execFileSync(process.execPath, ['-e', LOADER], { cwd, env, encoding: 'utf8' });
  return JSON.parse(out) as LoadReport;
}

/** Unpacks `zipFile` into `into` (refusing entries that would land outside it); returns the entry names. */
function unzip(zipFile: string, into: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    yauzl.open(zipFile, { lazyEntries: true }, (openError, zip) => {
      if (openError) return reject(openError);
      const names: string[] = [];
      let pending = 0;
      let ended = false;
      const settle = () => {
        if (ended && pending === 0) resolve(names);
      };
      zip.on('error', reject);
      zip.on('end', () => {
        ended = true;
        settle();
      });
      zip.on('entry', (entry: yauzl.Entry) => {
        names.push(entry.fileName);
        if (entry.fileName.endsWith('/')) return zip.readEntry();
        const target = path.resolve(into, entry.fileName);
        if (!target.startsWith(into + path.sep)) return reject(new Error(`entry escapes: ${entry.fileName}`));
        fs.mkdirSync(path.dirname(target), { recursive: true });
        pending++;
        zip.openReadStream(entry, (streamError, stream) => {
          if (streamError) return reject(streamError);
          const output = fs.createWriteStream(target);
          output.on('close', () => {
            pending--;
            settle();
          });
          output.on('error', reject);
          stream.on('error', reject);
          stream.pipe(output);
          // Entries are written concurrently (a bounded number in flight keeps file handles in check).
          if (pending < 64) zip.readEntry();
          else output.on('close', () => zip.readEntry());
        });
      });
      zip.readEntry();
    });
  });
}

describe('npm run package', () => {
  let work: string;
  let app: string;
  let entries: string[];
  let fromPackage: LoadReport;
  let fromDist: LoadReport;

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'segment-export-package-'));
    app = path.join(work, 'app');
    fs.mkdirSync(app);
    const zipFile = path.join(work, 'segment-export.zip');
    execFileSync(process.execPath, [builder, '--root', root, '--out', zipFile], { stdio: 'pipe' });
    entries = await unzip(zipFile, app);
    fromPackage = loadApp(app);
    fromDist = loadApp(root);
  }, 120_000);

  afterAll(() => {
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('holds only host.json, package.json, compiled functions/ and shared/, the built ui/, and node_modules', () => {
    const tops = [...new Set(entries.map((name) => name.split('/')[0]))].sort();
    expect(tops).toEqual(['functions', 'host.json', 'node_modules', 'package.json', 'shared', 'ui']);
    const code = entries.filter((name) => /^(functions|shared)\//.test(name));
    expect(code.length).toBeGreaterThan(0);
    expect(code.filter((name) => !name.endsWith('.js'))).toEqual([]);
    expect(entries.filter((name) => /^(dev|test|bench|infra|dist)\//.test(name))).toEqual([]);
    expect(entries).not.toContain('local.settings.json');
    expect(fs.readFileSync(path.join(app, 'host.json'), 'utf8')).toBe(
      fs.readFileSync(path.join(root, 'host.json'), 'utf8'),
    );
  });

  it('carries production dependencies only', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    const packaged = JSON.parse(fs.readFileSync(path.join(app, 'package.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(packaged.dependencies).toEqual(pkg.dependencies);
    expect(packaged).not.toHaveProperty('devDependencies');
    expect(packaged).not.toHaveProperty('scripts');
    for (const name of Object.keys(pkg.dependencies)) {
      expect(fs.existsSync(path.join(app, 'node_modules', name, 'package.json')), name).toBe(true);
    }
    for (const name of ['vitest', 'azurite', 'typescript', 'eslint', 'yazl', 'tsx']) {
      expect(fs.existsSync(path.join(app, 'node_modules', name)), name).toBe(false);
    }
  });

  it('registers every function the built app registers, from the package alone', () => {
    expect(fromPackage.main).toBe('functions/*.js');
    // The expected set comes from the built dist/functions, so functions added later are covered.
    expect(fromPackage.files).toEqual(fromDist.files);
    expect(fromDist.registered.length).toBeGreaterThan(0);
    expect(fromPackage.registered.map((f) => f.name).sort()).toEqual(
      fromDist.registered.map((f) => f.name).sort(),
    );
    expect(fromPackage.registered.map((f) => f.name)).toContain('health');
    expect(fromPackage.programmingModel?.name).toBe('@azure/functions');
  });

  it('loads nothing from outside the package and no dev/ file', () => {
    expect(fromPackage.loaded.length).toBeGreaterThan(0);
    expect(fromPackage.loaded.filter((file) => !file.startsWith(app + path.sep))).toEqual([]);
    expect(fromPackage.loaded.filter((file) => file.startsWith(path.join(app, 'dev') + path.sep))).toEqual(
      [],
    );
    expect(fromPackage.loaded).toContain(path.join(app, 'functions', 'health.js'));
    expect(fromPackage.registered.map((f) => f.name)).toContain('ui');
    expect(
      fromPackage.loaded.some((file) =>
        file.startsWith(path.join(app, 'node_modules', '@azure', 'functions')),
      ),
    ).toBe(true);
  });

  it("carries the admin page's built files beside shared/, where shared/adminPage.js serves them from", () => {
    const built = fs.readdirSync(path.join(root, 'dist', 'ui')).sort();
    expect(built).toContain('index.html');
    expect(entries.filter((name) => name.startsWith('ui/')).sort()).toEqual(built.map((f) => `ui/${f}`));
    const html = fs.readFileSync(path.join(app, 'ui', 'index.html'), 'utf8');
    for (const asset of built.filter((f) => f !== 'index.html')) expect(html).toContain(asset);
    expect(fs.existsSync(path.join(app, 'shared', 'adminPage.js'))).toBe(true);
  });
});
