/**
 * Benchmark of the segment pipeline (prepareSegments) on a 1,000,000-row segment in an in-memory Azurite.
 *
 * Each measured step runs in its own child process, so its peak RSS is the kernel's `maxRSS` for a process
 * that did only that step (process.resourceUsage(), getrusage). Steps, side by side in one run:
 *   floor     download + decode + tokenize the blob, records discarded (the bare parse)
 *   csv-parse download + csv-parse of the same blob, for reference
 *   prepare#1 the full pipeline, first run (every contact added → 4,000 requests staged)
 *   advance   snapshot advance with every contact confirmed
 *   prepare#2 the full pipeline again on the same data (incremental: everything unchanged, nothing staged)
 * Usage: npm run build && node dist/bench/pipeline.js [rows]
 */
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { TextDecoder } from 'node:util';

import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { parse } from 'csv-parse';

import { startAzurite } from '../dev/azurite';
import { prepareSegments } from '../shared/adapters/blob/prepareSegments';
import { readSlice } from '../shared/adapters/blob/slices';
import { advanceExportSnapshot } from '../shared/adapters/blob/snapshotStore';
import { CsvTokenizer } from '../shared/domain/segments/csvTokenizer';
import { writePlainSegment } from '../test/helpers/segmentFixtures';
import { writeResults } from './writeResults';

const SEGMENT = 'Bench';
const BLOB = `${SEGMENT}/part-00001.csv`;
type Step = 'floor' | 'csv-parse' | 'prepare' | 'advance' | 'upload';

interface StepResult {
  step: string;
  seconds: number;
  /** CPU time Azurite (its own process, on the same cores) spent during the step. */
  azuriteCpuSeconds?: number;
  /** CPU time (user + system) of the step's process during the step: less sensitive to load than wall time. */
  cpuSeconds: number;
  maxRssMb: number;
  rows?: number;
  detail?: string;
}

async function child(step: Step, connectionString: string, segName: string, workName: string, runId: string) {
  const service = BlobServiceClient.fromConnectionString(connectionString);
  const segments = service.getContainerClient(segName);
  const work = service.getContainerClient(workName);
  let started = performance.now();
  let cpuStart = process.cpuUsage();
  let rows = 0;
  let detail = '';
  if (step === 'floor') {
    const body = (await segments.getBlobClient(BLOB).download(0)).readableStreamBody!;
    const decoder = new TextDecoder('utf-8', { fatal: true });
    const tokenizer = new CsvTokenizer(BLOB, { delimiter: ',', quoteMode: 'afterDelimiter' });
    const count = () => void rows++;
    for await (const chunk of body as AsyncIterable<Buffer>)
      tokenizer.push(decoder.decode(chunk, { stream: true }), count);
    tokenizer.end(count);
  } else if (step === 'csv-parse') {
    const body = (await segments.getBlobClient(BLOB).download(0)).readableStreamBody!;
    for await (const _record of body.pipe(parse({ bom: true, relax_column_count: true }))) rows++;
  } else if (step === 'prepare') {
    const result = await prepareSegments(
      {
        // A run id of its own export (`first-<n>`) is another first run: that export has no snapshot yet.
        exportId: runId.startsWith('first-') ? `bench-${runId}` : 'bench',
        runId,
        segments: [SEGMENT],
        mapping: {
          email: 'Email',
          firstName: 'FirstName',
          lastName: 'LastName',
          phone: 'Phone',
          fields: [{ column: 'City', fieldId: 1 }],
        },
        listId: 1,
        membership: 'mirror',
        profileCap: 1_000_000,
      },
      {
        segmentContainer: segments,
        workContainer: work,
        // BENCH_PREPARE_THREADS=<n> overrides the default row-preparer threads (0: all on one thread).
        ...(process.env.BENCH_PREPARE_THREADS ? { threads: Number(process.env.BENCH_PREPARE_THREADS) } : {}),
      },
    );
    rows = result.counts.rows;
    const c = result.counts;
    detail = `contacts ${c.contacts}, rejected ${c.rejected}, added ${c.added}, unchanged ${c.unchanged}, staged ${c.toUpsert} in ${c.requests} requests / ${c.slices} slices; ${result.parsing.chunks} chunks, ${result.parsing.onWorkerThreads} on worker threads`;
  } else if (step === 'upload') {
    // Azurite's share of a first run: the same slice bytes prepare#1 staged, uploaded alone (read first, untimed)
    // with the same call and concurrency as prepareSegments' SliceUploader.
    const bodies: Buffer[] = [];
    for await (const b of work.listBlobsFlat({ prefix: `exports/bench/runs/${runId}/slices/` }))
      bodies.push(await work.getBlobClient(b.name).downloadToBuffer());
    started = performance.now();
    cpuStart = process.cpuUsage();
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < bodies.length) {
          const i = next++;
          const body = bodies[i]!;
          await work
            .getBlockBlobClient(`exports/bench/upload-only/${String(i).padStart(5, '0')}.json.br`)
            .upload(body, body.length, {
              blobHTTPHeaders: { blobContentType: 'application/json', blobContentEncoding: 'br' },
            });
        }
      }),
    );
    const bytes = bodies.reduce((n, b) => n + b.length, 0);
    detail = `${bodies.length} slice blobs, ${(bytes / 1e6).toFixed(1)} MB compressed, 4 in flight`;
  } else {
    // Every staged contact of run 1 confirmed: read them back from the slices (untimed: in production the
    // confirmations come from the push results, not from re-reading the slices).
    const confirmed: string[] = [];
    for await (const b of work.listBlobsFlat({ prefix: `exports/bench/runs/${runId}/slices/` })) {
      const slice = await readSlice(work, b.name);
      for (const r of slice.requests) for (const c of r.body.contacts) confirmed.push(String(c.email));
    }
    started = performance.now();
    cpuStart = process.cpuUsage();
    const { contacts } = await advanceExportSnapshot(work, {
      exportId: 'bench',
      runId,
      confirmedEmails: confirmed,
    });
    detail = `snapshot now holds ${contacts} contacts`;
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const result: StepResult = {
    step,
    seconds,
    cpuSeconds,
    maxRssMb: process.resourceUsage().maxRSS / 1024,
    rows,
    detail,
  };
  process.send!(result);
}

function runChild(args: string[]): Promise<StepResult> {
  return new Promise((resolve, reject) => {
    // BENCH_CPU_PROF=<dir> profiles each step (node --cpu-prof) for finding hot spots.
    const profile = process.env.BENCH_CPU_PROF;
    const proc = fork(__filename, ['--child', ...args], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : [],
    });
    let result: StepResult | undefined;
    proc.on('message', (m) => (result = m as StepResult));
    proc.on('exit', (code) =>
      result ? resolve(result) : reject(new Error(`${args[0]} exited with ${code}`)),
    );
  });
}

/** User + system CPU seconds of a process so far (Linux /proc; 0 elsewhere). */
function processCpuSeconds(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // utime + stime, in clock ticks (USER_HZ, 100 on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** Runs the benchmark and writes bench/results/pipeline.md. */
export async function main(): Promise<void> {
  const rowsArg = process.argv.find((a) => /^\d+$/.test(a));
  const rows = rowsArg ? Number(rowsArg) : 1_000_000;
  const azurite = await startAzurite();
  try {
    const service = BlobServiceClient.fromConnectionString(azurite.connectionString);
    const segments: ContainerClient = service.getContainerClient('bench-segments');
    const work = service.getContainerClient('bench-work');
    await Promise.all([segments.create(), work.create()]);
    const genStart = performance.now();
    const { stats } = await writePlainSegment(segments, SEGMENT, [
      { rows, seed: 42, invalidShare: 0.01, duplicateShare: 0.02, missingShare: 0.005 },
    ]);
    const size = (await segments.getBlobClient(BLOB).getProperties()).contentLength ?? 0;
    const genSeconds = (performance.now() - genStart) / 1000;
    console.log(`generated ${rows} rows (${(size / 1e6).toFixed(1)} MB) in ${genSeconds.toFixed(1)} s`);

    const common = [azurite.connectionString, segments.containerName, work.containerName];
    const results: StepResult[] = [];
    for (const [step, runId, label] of [
      ['floor', 'x', 'bare parse (download + decode + tokenize)'],
      ['csv-parse', 'x', 'download + csv-parse (reference)'],
      ['prepare', 'run1', 'prepareSegments, first run (all added)'],
      ['upload', 'run1', "uploading the first run's slice blobs alone (Azurite's share)"],
      ['advance', 'run1', 'advanceExportSnapshot (all confirmed)'],
      ['prepare', 'run2', 'prepareSegments, second run (incremental)'],
      ['floor', 'x', 'bare parse again (load check: should match the first row)'],
      // Two more first runs, each right after a bare parse: the machine's load drifts, so the first-run
      // ratio is reported as the median of three (floor, first run) pairs measured side by side.
      ['prepare', 'first-2', 'prepareSegments, first run again (another export)'],
      ['floor', 'x', 'bare parse (pair of the row above)'],
      ['prepare', 'first-3', 'prepareSegments, first run a third time'],
    ] as const) {
      const azuriteBefore = processCpuSeconds(azurite.pid);
      const r = await runChild([step, ...common, runId]);
      r.azuriteCpuSeconds = processCpuSeconds(azurite.pid) - azuriteBefore;
      r.step = label;
      results.push(r);
      console.log(
        `${label}: ${r.seconds.toFixed(2)} s (cpu ${r.cpuSeconds.toFixed(2)} s), peak RSS ${r.maxRssMb.toFixed(0)} MB ${r.detail ?? ''}`,
      );
    }
    const floor = results[0]!.seconds;
    // Each first run against the bare parse measured next to it (step indexes: first run, bare parse).
    const pairs = [
      [2, 0],
      [7, 6],
      [9, 8],
    ] as const;
    const firstRatios = pairs.map(([run, parse]) => results[run]!.seconds / results[parse]!.seconds);
    const floorCpu = results[0]!.cpuSeconds;
    const table = [
      '| step | time (s) | rows/s | × bare parse | process CPU (s) | CPU × bare parse | Azurite CPU (s) | peak RSS (MB) | notes |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---|',
      ...results.map(
        (r) =>
          `| ${r.step} | ${r.seconds.toFixed(2)} | ${r.rows ? Math.round(r.rows / r.seconds).toLocaleString('en-US') : ''} | ${(r.seconds / floor).toFixed(2)} | ${r.cpuSeconds.toFixed(2)} | ${(r.cpuSeconds / floorCpu).toFixed(2)} | ${(r.azuriteCpuSeconds ?? 0).toFixed(2)} | ${r.maxRssMb.toFixed(0)} | ${r.detail ?? ''} |`,
      ),
    ].join('\n');
    const md = [
      '# Segment pipeline benchmark',
      '',
      `Command: \`npx tsc -p tsconfig.build.json && node dist/bench/pipeline.js${rowsArg ? ` ${rowsArg}` : ''}\``,
      `Date: ${new Date().toISOString()}`,
      `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${(os.totalmem() / 1e9).toFixed(0)} GB, Node ${process.version}, ${os.platform()}; shared with other engineers' jobs (timings are noisy).`,
      '',
      `Input: one plain-layout blob, ${rows.toLocaleString('en-US')} rows, ${(size / 1e6).toFixed(1)} MB, in-memory Azurite on loopback; ` +
        `${stats.valid} valid unique, ${stats.invalid} invalid, ${stats.duplicate} duplicate, ${stats.missing} missing emails; 5 columns mapped (email, names, phone, one custom field).`,
      "Peak RSS: each step runs alone in a child process; the figure is that process's `process.resourceUsage().maxRSS` (kernel getrusage peak), Node baseline included.",
      "Process CPU is user + system time of the step's process, all its threads (Prepare parses on worker threads); Azurite CPU is what the Azurite process spent meanwhile, on the same cores.",
      '',
      table,
      '',
      `Targets: pipeline ≤ 3× bare parse → first run ${firstRatios.map((x) => `${x.toFixed(2)}×`).join(', ')} in three (bare parse, first run) pairs, median **${median(firstRatios).toFixed(2)}×**; incremental ${(results[5]!.seconds / floor).toFixed(2)}× (wall time); peak RSS < 512 MB → ${Math.max(...results.filter((r) => r.step.startsWith('prepareSegments')).map((r) => r.maxRssMb)).toFixed(0)} MB.`,
      '',
    ].join('\n');
    writeResults('pipeline', md);
    console.log(`\n${md}`);
  } finally {
    await azurite.stop();
  }
}

if (require.main === module) {
  if (process.argv[2] === '--child') {
    const [, , , step, cs, seg, work, runId] = process.argv;
    void child(step as Step, cs!, seg!, work!, runId!).catch((error: unknown) => {
      console.error(error);
      process.exit(1);
    });
  } else {
    void main();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
