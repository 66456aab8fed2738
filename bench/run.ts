/**
 * `npm run bench`: runs every benchmark in its own process (so one's memory does not colour another's),
 * one after the other (the machine has two cores), then rewrites bench/README.md from their results.
 *
 *   npm run bench                 # all
 *   npm run bench -- pipeline     # only the named ones
 *   npm run bench -- --readme     # only rebuild bench/README.md from bench/results/
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

const BENCHES = ['pipeline', 'activecampaign', 'activecampaignImport', 'exportRun'] as const;
const SOURCE_DIR = path.resolve(__dirname, '../../bench');

async function runOne(name: string): Promise<number> {
  const script = path.join(__dirname, `${name}.js`);
  const child = spawn(process.execPath, ['--expose-gc', script], { stdio: 'inherit' });
  const [code] = (await once(child, 'exit')) as [number | null];
  return code ?? 1;
}

async function writeReadme(): Promise<void> {
  const sections: string[] = [];
  for (const name of BENCHES) {
    const file = path.join(SOURCE_DIR, 'results', `${name}.md`);
    sections.push(existsSync(file) ? (await readFile(file, 'utf8')).trim() : `## ${name}\n\nNot run yet.`);
  }
  const text = [
    '# Benchmarks',
    '',
    'Reproducible with `npm run bench` (all) or `npm run bench -- <name>`; each benchmark also runs alone as',
    '`node dist/bench/<name>.js` after `npm run build`. The machine is shared and noisy, so every figure that',
    'matters is a ratio measured side by side in one run; absolute times are for orientation only.',
    'This file is rewritten from `bench/results/*.md` by every `npm run bench`.',
    '',
    ...sections.flatMap((s) => [s, '']),
  ].join('\n');
  await writeFile(path.join(SOURCE_DIR, 'README.md'), text);
}

async function main(): Promise<void> {
  if (process.argv.includes('--readme')) return writeReadme();
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((w) => !(BENCHES as readonly string[]).includes(w));
  if (unknown.length)
    throw new Error(`Unknown benchmark(s): ${unknown.join(', ')}; known: ${BENCHES.join(', ')}`);
  let failed = 0;
  for (const name of wanted.length ? wanted : BENCHES) {
    process.stdout.write(`\n=== bench: ${name} ===\n`);
    if ((await runOne(name)) !== 0) failed += 1;
  }
  await writeReadme();
  if (failed) process.exitCode = 1;
}

void main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
