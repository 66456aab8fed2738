/**
 * Reads a function app folder the way the Functions host and Core Tools do: `package.json` `main` (a path or
 * glob, expanded like the worker's `globby(main, { cwd })`), `host.json`, and `local.settings.json` `Values`
 * (merged into the environment; variables already set win, as with `func start`).
 */
import fs from 'node:fs';
import path from 'node:path';

/** The parts of `local.settings.json` the local host honours. */
export interface LocalSettings {
  values: Record<string, string>;
  /** `Host.LocalHttpPort`, used by `func start` as the default port. */
  localHttpPort?: number;
}

function readJsonFile(file: string): unknown {
  const text = fs.readFileSync(file, 'utf8').replace(/^\uFEFF/, '');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new Error(`Could not parse ${file}: ${(err as Error).message}`, { cause: err });
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The entry-point files of the app (absolute, sorted), from `package.json` `main`. */
export function resolveEntryPoints(appDir: string): string[] {
  const pkgFile = path.join(appDir, 'package.json');
  if (!fs.existsSync(pkgFile)) throw new Error(`No package.json in the function app folder ${appDir}.`);
  const pkg = readJsonFile(pkgFile);
  const main = isRecord(pkg) ? pkg.main : undefined;
  if (typeof main !== 'string' || main.trim() === '') {
    throw new Error(
      `${pkgFile} has no "main": the v4 programming model loads the app from package.json "main".`,
    );
  }
  if (isRecord(pkg) && pkg.type === 'module') {
    throw new Error(`${pkgFile} declares "type": "module"; the local host loads CommonJS apps only.`);
  }
  const files = expandGlob(appDir, main);
  if (files.length === 0) {
    throw new Error(
      `package.json "main" pattern "${main}" matches no file under ${appDir} (was the app built?).`,
    );
  }
  const esm = files.find((f) => f.endsWith('.mjs'));
  if (esm) throw new Error(`Entry point ${esm} is an ES module; the local host loads CommonJS apps only.`);
  return files;
}

/** `host.json` of the app, or `{ version: '2.0' }` when there is none. */
export function readHostJson(appDir: string): Record<string, unknown> {
  const file = path.join(appDir, 'host.json');
  if (!fs.existsSync(file)) return { version: '2.0' };
  const json = readJsonFile(file);
  if (!isRecord(json)) throw new Error(`${file} is not a JSON object.`);
  return json;
}

/** `local.settings.json` of the app (empty when there is none). */
export function readLocalSettings(appDir: string): LocalSettings {
  const file = path.join(appDir, 'local.settings.json');
  if (!fs.existsSync(file)) return { values: {} };
  const json = readJsonFile(file);
  if (!isRecord(json)) throw new Error(`${file} is not a JSON object.`);
  if (json.IsEncrypted === true)
    throw new Error(`${file} is encrypted; the local host reads plain settings only.`);
  const values: Record<string, string> = {};
  if (isRecord(json.Values)) {
    for (const [key, value] of Object.entries(json.Values)) {
      if (value !== null && value !== undefined)
        values[key] = typeof value === 'string' ? value : JSON.stringify(value);
    }
  }
  const host = isRecord(json.Host) ? json.Host : {};
  const port = Number(host.LocalHttpPort);
  return Number.isInteger(port) && port > 0 ? { values, localHttpPort: port } : { values };
}

/** Copies `values` into `env` where `env` has no value yet (existing environment wins, like `func start`). */
export function mergeSettingsIntoEnv(
  values: Record<string, string>,
  env: NodeJS.ProcessEnv = process.env,
): void {
  for (const [key, value] of Object.entries(values)) {
    if (env[key] === undefined) env[key] = value;
  }
}

/**
 * Replaces every `%NAME%` in `value` with the app setting NAME, as the host's name resolver does for
 * binding properties (schedule, path...) and host.json values. An unknown setting fails loudly.
 */
export function resolveSettingReferences(
  value: string,
  where: string,
  env: NodeJS.ProcessEnv = process.env,
): string {
  return value.replace(/%([^%\s]+)%/g, (_match, name: string) => {
    const setting = env[name];
    if (setting === undefined) {
      throw new Error(`${where}: '%${name}%' does not resolve to a value (no app setting named ${name}).`);
    }
    return setting;
  });
}

/** Deep copy of a JSON value with `%NAME%` resolved in every string. */
export function resolveSettingReferencesDeep<T>(
  value: T,
  where: string,
  env: NodeJS.ProcessEnv = process.env,
): T {
  if (typeof value === 'string') return resolveSettingReferences(value, where, env) as T;
  if (Array.isArray(value)) {
    return value.map((v: unknown, i) => resolveSettingReferencesDeep(v, `${where}[${i}]`, env)) as T;
  }
  if (isRecord(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value))
      out[k] = resolveSettingReferencesDeep(v, `${where}.${k}`, env);
    return out as T;
  }
  return value;
}

/**
 * Expands a glob (`*`, `**`, `?`, `{a,b}`, `[abc]`) relative to `cwd` into absolute file paths, sorted.
 * `node_modules` folders are skipped unless the pattern names them (as globby does by default for `**`).
 */
export function expandGlob(cwd: string, pattern: string): string[] {
  const normalized = pattern.replace(/\\/g, '/').replace(/^\.\//, '');
  if (!/[*?[{]/.test(normalized)) {
    const file = path.resolve(cwd, normalized);
    return fs.existsSync(file) && fs.statSync(file).isFile() ? [file] : [];
  }
  const regex = globToRegExp(normalized);
  const results: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const relPath = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (entry.name === 'node_modules' && !normalized.includes('node_modules')) continue;
        walk(path.join(dir, entry.name), relPath);
      } else if (entry.isFile() && regex.test(relPath)) {
        results.push(path.join(cwd, relPath));
      }
    }
  };
  walk(cwd, '');
  return results.sort();
}

/** Translates a glob into an anchored regular expression over `/`-separated relative paths. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        // `**/` matches zero or more whole folders; a trailing `**` matches anything.
        if (glob[i + 2] === '/') {
          re += '(?:[^/]+/)*';
          i += 2;
        } else {
          re += '.*';
          i += 1;
        }
      } else {
        re += '[^/]*';
      }
    } else if (c === '?') {
      re += '[^/]';
    } else if (c === '{') {
      const end = glob.indexOf('}', i);
      if (end === -1) {
        re += '\\{';
      } else {
        const options = glob.slice(i + 1, end).split(',');
        re += `(?:${options.map((o) => globToRegExp(o).source.slice(1, -1)).join('|')})`;
        i = end;
      }
    } else if (c === '[') {
      const end = glob.indexOf(']', i);
      if (end === -1) re += '\\[';
      else {
        re += glob.slice(i, end + 1).replace(/^\[!/, '[^');
        i = end;
      }
    } else {
      re += c.replace(/[.+^$()|\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${re}$`);
}
