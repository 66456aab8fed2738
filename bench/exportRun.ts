/**
 * `npm run bench -- exportRun`: one export of `--profiles` (default 1,000,000) contacts end to end through
 * the local host (the compiled app, the real durable-functions replay executor, Azurite, the Key Vault
 * emulator) into the ActiveCampaign sandbox at `--time-scale` (default 50), then a re-run after 1% changed.
 *
 * Reported, as ratios measured in this run:
 * - floor/actual: ActiveCampaign's floor (the bulk requests the export needs ÷ the bulk-import budget, both
 *   at the sandbox's time scale) over the measured wall time from the HTTP start to the run's end;
 * - the time to the first bulk request, and peak memory (the host process and this one);
 * - the 1%-changed re-run's time as a share of the full run's;
 * - zero lost or doubled: every contact in the list, written exactly once (per run that sent it).
 *
 *   node dist/bench/exportRun.js [--profiles 1000000] [--time-scale 50] [--out bench/results/exportRun.md]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { parseArgs } from 'node:util';

import { BlobServiceClient } from '@azure/storage-blob';

import { startAzurite } from '../dev/azurite';
import { startKeyVaultEmulator } from '../dev/keyvault/emulator';
import { prepareEmulatorTrust } from '../dev/keyvault/trust';
import { startSandbox } from '../dev/sandbox/server';

const ROOT = path.resolve(__dirname, '../..');
const BULK_PER_MINUTE = 100;

function csvOf(profiles: number, changed: (i: number) => boolean): PassThrough {
  const out = new PassThrough();
  void (async () => {
    out.write('Email,FirstName,LastName\r\n');
    const rows: string[] = [];
    for (let i = 0; i < profiles; i++) {
      rows.push(`person${i}@example.com,First${i}${changed(i) ? 'x' : ''},Last${i}\r\n`);
      if (rows.length === 10_000) {
        if (!out.write(rows.join(''))) await once(out, 'drain');
        rows.length = 0;
      }
    }
    out.end(rows.join(''));
  })();
  return out;
}

/** Peak resident memory of a process (VmHWM), in MB. */
function peakRssMb(pid: number | undefined): number {
  const status = readFileSync(`/proc/${pid ?? 'self'}/status`, 'utf8');
  return Math.round(Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      profiles: { type: 'string', default: '1000000' },
      'time-scale': { type: 'string', default: '50' },
      out: { type: 'string', default: path.join(ROOT, 'bench/results/exportRun.md') },
    },
  });
  const profiles = Number(values.profiles);
  const scale = Number(values['time-scale']);
  const azurite = await startAzurite();
  const trust = await prepareEmulatorTrust({ previousBundle: process.env.NODE_EXTRA_CA_CERTS });
  const keyVault = await startKeyVaultEmulator({ tls: { certPath: trust.certPath, keyPath: trust.keyPath } });
  const sandbox = await startSandbox({ timeScale: scale });
  const blobs = BlobServiceClient.fromConnectionString(azurite.connectionString);
  const segments = blobs.getContainerClient('customer-insights');
  await segments.createIfNotExists();
  let host: ChildProcess | undefined;
  try {
    const env = {
      ...process.env,
      AzureWebJobsStorage: azurite.connectionString,
      SEGMENT_STORAGE_CONNECTION_STRING: azurite.connectionString,
      SegmentStorage: azurite.connectionString,
      SEGMENT_CONTAINER: segments.containerName,
      KEY_VAULT_URL: keyVault.url,
      LOCAL_DEV_MODE: 'true',
      ACTIVECAMPAIGN_ALLOW_LOOPBACK_HTTP: 'true',
      // ActiveCampaign's real budgets, on a client clock that runs as fast as the sandbox's.
      ACTIVECAMPAIGN_REQUESTS_PER_SECOND: '5',
      ACTIVECAMPAIGN_BULK_IMPORTS_PER_MINUTE: String(BULK_PER_MINUTE),
      ACTIVECAMPAIGN_TIME_SCALE: String(scale),
      EXPORT_SCHEDULE: '0 0 0 1 1 *',
      EXPORT_POLL_FIRST_MS: String(Math.max(20, Math.round(2_000 / scale))),
      EXPORT_POLL_MAX_MS: String(Math.max(100, Math.round(30_000 / scale))),
      NODE_EXTRA_CA_CERTS: trust.caBundlePath,
      DURABLE_TASK_HUB_NAME: 'BenchExport',
    };
    // BENCH_CPU_PROF=<dir>: the host writes a CPU profile there when it stops (open it in Chrome DevTools).
    const profile = process.env.BENCH_CPU_PROF
      ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
      : [];
    host = spawn(
      process.execPath,
      [...profile, path.join(ROOT, 'dist/dev/host/main.js'), '--app', ROOT, '--port', '0'],
      {
        env,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let output = '';
    host.stdout?.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-20_000)));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setInterval(() => {
        const m = /HOST READY (\S+)/.exec(output);
        if (m) {
          clearInterval(timer);
          resolve(m[1]!);
        }
      }, 50);
      host!.once('exit', (code) => reject(new Error(`host exited ${code}: ${output}`)));
    });
    const api = `${url}/api`;
    const post = async (p: string, body?: unknown) => {
      const res = await fetch(`${api}/${p}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const json = (await res.json()) as Record<string, unknown>;
      if (res.status >= 300) throw new Error(`${p}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    };
    const upload = (changed: (i: number) => boolean) =>
      segments.getBlockBlobClient('people/part-1.csv').uploadStream(csvOf(profiles, changed), 4 << 20, 4);

    await upload(() => false);
    const connection = await post('connections', {
      displayName: 'Bench',
      hostname: sandbox.hostForClient,
      apiKey: sandbox.apiKey,
      acceptDataPrivacy: true,
    });
    const definition = await post('exports', {
      name: 'Bench',
      connectionId: connection.id,
      listId: 1,
      mapping: { email: 'Email', firstName: 'FirstName', lastName: 'LastName' },
      segments: ['people'],
    });

    const runOnce = async (label: string) => {
      const seqBefore = sandbox.state.log.at(-1)?.seq ?? 0;
      const started = Date.now();
      const { runId } = (await post(`exports/${String(definition.id)}/runs`)) as { runId: string };
      let firstBulkMs: number | undefined;
      for (;;) {
        if (firstBulkMs === undefined) {
          const first = sandbox.state.log.find(
            (r) => r.seq > seqBefore && r.path.startsWith('/api/3/import/bulk_import'),
          );
          if (first) firstBulkMs = Date.now() - started;
        }
        const res = await fetch(`${api}/exports/${String(definition.id)}/runs/${runId}`);
        const run = (await res.json()) as { status: string };
        if (run.status !== 'running') break;
        const durable = await fetch(
          `${url}/runtime/webhooks/durabletask/instances/${runId}?showHistory=true`,
        );
        const state = (await durable.json()) as { runtimeStatus?: string; output?: unknown };
        if (state.runtimeStatus === 'Failed')
          throw new Error(`run ${runId} failed in Durable: ${JSON.stringify(state).slice(-6000)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const wallMs = Date.now() - started;
      const report = (await (
        await fetch(`${api}/exports/${String(definition.id)}/runs/${runId}/report`)
      ).json()) as {
        status: string;
        counts: Record<string, number>;
        stages: Record<string, number>;
        requests: Record<string, number>;
      };
      const needed = Math.ceil(report.counts.sent! / 250);
      const floorMs = (needed / (BULK_PER_MINUTE * scale)) * 60_000;
      const result = { label, runId, status: report.status, wallMs, floorMs, firstBulkMs, needed, report };
      process.stdout.write(
        `${JSON.stringify({ ...result, report: { counts: report.counts, stages: report.stages, requests: report.requests } })}\n`,
      );
      return result;
    };

    const full = await runOnce('full');
    const contacts = [...sandbox.state.account(undefined).contacts.values()];
    const lost = profiles - contacts.filter((c) => c.lists['1'] === 1).length;
    const doubled = contacts.filter((c) => c.writes !== 1).length;
    await upload((i) => i % 100 === 0);
    const rerun = await runOnce('1% changed');
    const after = [...sandbox.state.account(undefined).contacts.values()];
    const doubledAfter = after.filter(
      (c) => c.writes !== (Number(c.email.slice(6, -12)) % 100 === 0 ? 2 : 1),
    ).length;
    const hostPeak = peakRssMb(host.pid);
    const lines = [
      `### ${new Date().toISOString()}: ${profiles.toLocaleString('en')} profiles at ${scale}x time scale`,
      '',
      '| figure | value |',
      '|---|---:|',
      `| full run: wall time (HTTP start → run ended) | ${(full.wallMs / 1000).toFixed(1)} s |`,
      `| full run: ActiveCampaign floor (${full.needed} bulk requests ÷ ${BULK_PER_MINUTE * scale}/min) | ${(full.floorMs / 1000).toFixed(1)} s |`,
      `| **floor / actual** | **${(full.floorMs / full.wallMs).toFixed(3)}** |`,
      `| stages (prepare / push / reconcile tail / finalise) | ${[full.report.stages.prepareMs, full.report.stages.pushMs, full.report.stages.reconcileMs, full.report.stages.finaliseMs].map((v) => `${((v ?? 0) / 1000).toFixed(1)} s`).join(' / ')} |`,
      `| time to the first bulk request | ${((full.firstBulkMs ?? 0) / 1000).toFixed(1)} s |`,
      `| bulk requests sent / import/info calls / throttled | ${full.report.requests.bulkImport} / ${full.report.requests.importInfo} / ${full.report.requests.throttled} |`,
      `| contacts lost / written other than once | ${lost} / ${doubled} |`,
      `| 1%-changed re-run: wall time, sent, ratio to the full run | ${(rerun.wallMs / 1000).toFixed(1)} s, ${rerun.report.counts.sent}, **${(rerun.wallMs / full.wallMs).toFixed(3)}** |`,
      `| 1%-changed re-run: contacts written other than expected | ${doubledAfter} |`,
      `| peak RSS: host process / bench process (sandbox, emulator) | ${hostPeak} MB / ${peakRssMb(undefined)} MB |`,
      '',
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    await appendFile(values.out, `${lines.join('\n')}\n`);
  } finally {
    if (host && host.exitCode === null) {
      const gone = once(host, 'exit');
      host.kill('SIGTERM');
      await gone;
    }
    await Promise.allSettled([sandbox.stop(), keyVault.stop(), azurite.stop()]);
    await trust.dispose();
  }
}

void main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
