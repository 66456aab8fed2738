/**
 * `npm run package`: writes `dist/package/segment-export.zip`, the zip that is published to the Function
 * App (`az functionapp deployment source config-zip`). It holds only what runs:
 *
 *   host.json
 *   package.json        (`main: functions/*.js`, dependencies only, no scripts)
 *   functions/**.js     compiled from dist/functions
 *   shared/**.js        compiled from dist/shared (source maps left out: the sources are not shipped)
 *   ui/**               the admin page's built files from dist/ui (index.html, hashed script and style)
 *   node_modules/**     the production dependency tree
 *
 * Never `dev/`, tests, bench or TypeScript sources. The production tree is copied from this checkout's
 * node_modules as `npm ls --omit=dev --parseable --all` lists it (fast, and exactly what the tests ran
 * with); `--npm-ci` installs it afresh from package-lock.json instead (what a release pipeline should use).
 *
 *   npm run build && node dist/dev/package/buildPackage.js [--out <zip>] [--npm-ci] [--keep-staging]
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import yazl from 'yazl';

/** Where the zip is written unless `--out` says otherwise (relative to the project root). */
export const DEFAULT_PACKAGE_PATH = path.join('dist', 'package', 'segment-export.zip');

/** The compiled folders the package carries, from `dist/`. */
export const PACKAGED_CODE_FOLDERS = ['functions', 'shared'] as const;

/** The built asset folders the package carries whole, from `dist/` (`shared/adminPage.ts` serves `ui/`). */
export const PACKAGED_ASSET_FOLDERS = ['ui'] as const;

/** `main` of the packaged package.json: the layout inside the zip. */
export const PACKAGED_MAIN = 'functions/*.js';

export interface BuildPackageOptions {
  /** The project root (package.json, host.json, dist/, node_modules/). */
  root: string;
  /** The zip to write. */
  out: string;
  /** Install production dependencies with `npm ci --omit=dev` instead of copying them. */
  npmCi?: boolean;
  /** With `npmCi`: keep the staging folder the install went to (printed) for inspection. */
  keepStaging?: boolean;
}

export interface BuildPackageResult {
  out: string;
  /** Paths inside the zip, `/`-separated, in the order written. */
  entries: string[];
  bytes: number;
}

/** One file of the zip: copied from `file`, or written from `content`. */
interface PackageEntry {
  name: string;
  file?: string;
  content?: Buffer;
}

/** Builds the publishable zip from a built checkout (`npm run build` first). */
export async function buildPackage(options: BuildPackageOptions): Promise<BuildPackageResult> {
  const root = path.resolve(options.root);
  const out = path.resolve(options.out);
  const dist = path.join(root, 'dist');
  for (const folder of [...PACKAGED_CODE_FOLDERS, ...PACKAGED_ASSET_FOLDERS]) {
    if (!fs.existsSync(path.join(dist, folder))) {
      throw new Error(`dist/${folder} is missing: run \`npm run build\` before packaging`);
    }
  }
  fs.mkdirSync(path.dirname(out), { recursive: true });
  let staging: string | undefined;
  try {
    const entries: PackageEntry[] = [
      { name: 'host.json', file: path.join(root, 'host.json') },
      { name: 'package.json', content: packageJson(root) },
    ];
    for (const folder of PACKAGED_CODE_FOLDERS) {
      entries.push(...filesUnder(path.join(dist, folder), folder, (rel) => rel.endsWith('.js')));
    }
    for (const folder of PACKAGED_ASSET_FOLDERS) {
      entries.push(...filesUnder(path.join(dist, folder), folder, () => true));
    }
    if (options.npmCi) {
      staging = fs.mkdtempSync(path.join(path.dirname(out), '.staging-'));
      installProductionDependencies(root, staging);
      entries.push(...filesUnder(path.join(staging, 'node_modules'), 'node_modules', () => true));
    } else {
      entries.push(...productionDependencies(root));
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const bytes = await writeZip(entries, out);
    return { out, entries: entries.map((entry) => entry.name), bytes };
  } finally {
    if (staging && options.keepStaging) console.log(`staging kept at ${staging}`);
    else if (staging) fs.rmSync(staging, { recursive: true, force: true });
  }
}

function packageJson(root: string): Buffer {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as Record<string, unknown>;
  const packaged = {
    name: pkg.name,
    version: pkg.version,
    description: pkg.description,
    license: pkg.license,
    private: true,
    main: PACKAGED_MAIN,
    engines: pkg.engines,
    dependencies: pkg.dependencies,
  };
  return Buffer.from(`${JSON.stringify(packaged, null, 2)}\n`);
}

/** Every file of the production tree (as npm resolved it in this checkout), as zip entries. */
function productionDependencies(root: string): PackageEntry[] {
  let listing: string;
  try {
    listing = execFileSync('npm', ['ls', '--omit=dev', '--parseable', '--all'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(
      `npm ls --omit=dev failed (run \`npm ci\` first, or package with --npm-ci): ${stderr.trim()}`,
      { cause: error },
    );
  }
  const modules = path.join(root, 'node_modules');
  const packages = [
    ...new Set(
      listing
        .split('\n')
        .map((line) => line.trim())
        .filter((line) => line.startsWith(modules + path.sep)),
    ),
  ];
  if (packages.length === 0) throw new Error('npm ls --omit=dev listed no production packages');
  // A package's own nested node_modules are left out here: the production ones are listed by npm ls
  // as packages of their own, dev-only ones must not ship.
  return packages.flatMap((dir) =>
    filesUnder(dir, toZipName(path.relative(root, dir)), (rel) => !rel.split('/').includes('node_modules')),
  );
}

function installProductionDependencies(root: string, staging: string): void {
  fs.writeFileSync(path.join(staging, 'package.json'), packageJson(root));
  fs.copyFileSync(path.join(root, 'package-lock.json'), path.join(staging, 'package-lock.json'));
  execFileSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], {
    cwd: staging,
    stdio: 'inherit',
  });
  fs.rmSync(path.join(staging, 'node_modules', '.package-lock.json'), { force: true });
}

/** The files under `dir` whose `/`-separated relative path passes `include`, named `<prefix>/<relative>`. */
function filesUnder(dir: string, prefix: string, include: (relative: string) => boolean): PackageEntry[] {
  const entries: PackageEntry[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    const relative = toZipName(path.relative(dir, file));
    if (include(relative)) entries.push({ name: `${prefix}/${relative}`, file });
  }
  return entries;
}

function toZipName(relative: string): string {
  return relative.split(path.sep).join('/');
}

async function writeZip(entries: readonly PackageEntry[], out: string): Promise<number> {
  const zip = new yazl.ZipFile();
  // A fixed timestamp and mode: the same inputs give the same zip.
  const options = { mtime: new Date('2000-01-01T00:00:00Z'), mode: 0o100644 };
  for (const entry of entries) {
    if (entry.content) zip.addBuffer(entry.content, entry.name, options);
    else zip.addFile(entry.file!, entry.name, options);
  }
  zip.end();
  await new Promise<void>((resolve, reject) => {
    const output = fs.createWriteStream(out);
    output.on('close', resolve);
    output.on('error', reject);
    zip.outputStream.on('error', reject);
    zip.outputStream.pipe(output);
  });
  return fs.statSync(out).size;
}

function parseArgs(argv: readonly string[]): Omit<BuildPackageOptions, 'root'> & { root?: string } {
  const options: Omit<BuildPackageOptions, 'root'> & { root?: string } = { out: DEFAULT_PACKAGE_PATH };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--npm-ci') options.npmCi = true;
    else if (arg === '--keep-staging') options.keepStaging = true;
    else if (arg === '--out' || arg === '--root') {
      const value = argv[++i];
      if (!value) throw new Error(`${arg} needs a path`);
      if (arg === '--out') options.out = value;
      else options.root = value;
    } else
      throw new Error(`unknown option ${arg} (known: --out <zip>, --root <dir>, --npm-ci, --keep-staging)`);
  }
  return options;
}

if (require.main === module) {
  const args = parseArgs(process.argv.slice(2));
  // dist/dev/package/buildPackage.js → the project root is three folders up.
  const root = args.root ?? path.resolve(__dirname, '../../..');
  buildPackage({ ...args, root, out: path.resolve(root, args.out) }).then(
    (result) => {
      console.log(
        `PACKAGE ${result.out} (${result.entries.length} files, ${(result.bytes / 1024 / 1024).toFixed(1)} MiB)`,
      );
    },
    (error: unknown) => {
      console.error(`npm run package failed: ${error instanceof Error ? error.message : String(error)}`);
      process.exitCode = 1;
    },
  );
}
