#!/usr/bin/env node
/**
 * The export CLI (`npm run export -- ...`, package bin `segment-export`): runs one export through the app on
 * the local Functions host. See `--help` (options.ts) and the README's "The export CLI" section.
 *
 * Exit codes: 0 the run succeeded (with or without rejected rows); 1 it failed or was canceled, or the stack
 * could not start; 2 bad input (nothing was sent); 130 interrupted (Ctrl-C).
 */
import { createHash } from 'node:crypto';
import { appendFileSync, mkdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';

import { BlobServiceClient } from '@azure/storage-blob';

import { type LocalStack, startLocalStack } from '../stack/localStack';
import { ApiError, ManagementApi, type RunStatusView } from './managementApi';
import { CliInputError, type CliOptions, HELP, parseCliOptions } from './options';
import { createProgressDisplay, formatDuration } from './progress';
import { inspectSegment, uploadSegment } from './segmentInput';

const SEGMENT_CONTAINER = 'customer-insights';
const POLL_MS = 1_000;
/** How long Ctrl-C waits for a canceled run to end before stopping the stack anyway. */
const CANCEL_WAIT_MS = 15_000;

class Interrupted extends Error {
  override name = 'Interrupted';
}

interface Io {
  out: NodeJS.WriteStream;
  err: NodeJS.WriteStream;
  env: Record<string, string | undefined>;
  /** Resolves when the user asks to stop (SIGINT/SIGTERM). */
  interrupted: Promise<void>;
  isInterrupted(): boolean;
}

/** Runs the CLI; resolves with the exit code. */
export async function runCli(argv: string[], io: Io): Promise<number> {
  const say = (line: string) => io.out.write(`${line}\n`);
  let options: CliOptions | undefined;
  let segment;
  try {
    options = parseCliOptions(argv, io.env);
    if (!options) {
      io.out.write(HELP);
      return 0;
    }
    const m = options.mapping;
    const columns = [m.email, m.firstName, m.lastName, m.phone, ...m.fields.map((f) => f.column)].filter(
      (c): c is string => c !== undefined,
    );
    segment = await inspectSegment(options.segment, options.segmentName, columns);
  } catch (error) {
    if (error instanceof CliInputError) {
      io.err.write(`export: ${error.message}\n`);
      return 2;
    }
    throw error;
  }

  const { target } = options;
  say(
    target.kind === 'sandbox'
      ? `ActiveCampaign: the bundled sandbox (no --ac-url given), at time scale ${options.sandboxTimeScale}` +
          (options.sandboxTimeScale === 1 ? " (ActiveCampaign's real pace: 100 bulk imports a minute)" : '')
      : `ActiveCampaign: ${target.url}`,
  );
  say(`Starting the local stack (data in ${options.dataDir})...`);
  mkdirSync(options.dataDir, { recursive: true });
  const hostLog = path.join(options.dataDir, 'host.log');
  appendFileSync(
    hostLog,
    `--- ${new Date().toISOString()} export ${segment.name} → list ${options.listId}\n`,
  );

  let stack: LocalStack | undefined;
  try {
    stack = await startLocalStack({
      dataDir: options.dataDir,
      ports: { host: 0, azurite: 0, keyVault: 0, sandbox: 0 },
      sandbox: target.kind === 'sandbox' ? { timeScale: options.sandboxTimeScale } : false,
      allowLoopbackHttp: target.kind === 'url' && target.loopbackHttp,
      hostEnv: { SEGMENT_CONTAINER, DURABLE_TASK_HUB_NAME: 'SegmentExport' },
      onHostOutput: (line) => appendFileSync(hostLog, `${line}\n`),
    });
    if (io.isInterrupted()) throw new Interrupted();
    say(`Local Functions host ready at ${stack.hostUrl} (its log: ${hostLog})`);
    return await exportWith(stack, options, segment, io, say);
  } catch (error) {
    if (error instanceof Interrupted) {
      io.err.write('export: interrupted; the local stack is stopped. Run the same command again to go on.\n');
      return 130;
    }
    if (error instanceof CliInputError || (error instanceof ApiError && error.status < 500)) {
      io.err.write(`export: ${error.message}\n`);
      return 2;
    }
    io.err.write(`export: ${(error as Error).message} (host log: ${hostLog})\n`);
    return 1;
  } finally {
    if (stack) {
      say('Stopping the local stack...');
      await stack.stop();
    }
  }
}

async function exportWith(
  stack: LocalStack,
  options: CliOptions,
  segment: Awaited<ReturnType<typeof inspectSegment>>,
  io: Io,
  say: (line: string) => void,
): Promise<number> {
  const segments = BlobServiceClient.fromConnectionString(stack.azurite.connectionString).getContainerClient(
    SEGMENT_CONTAINER,
  );
  await uploadSegment(segments, segment);
  say(
    `Segment "${segment.name}" (${segment.files.size} file${segment.files.size === 1 ? '' : 's'}) put into segment storage`,
  );

  const api = new ManagementApi(`${stack.hostUrl}/api`);
  const { target } = options;
  const hostname = target.kind === 'sandbox' ? stack.sandbox!.hostForClient : target.hostname;
  const apiKey = target.kind === 'sandbox' ? stack.sandbox!.apiKey : target.apiKey;
  const connectionId = await api.upsertConnection(
    target.kind === 'sandbox' ? 'CLI bundled sandbox' : `CLI ${target.hostname}`,
    hostname,
    apiKey,
  );
  const m = options.mapping;
  const exportId = await api.upsertExport({
    name: exportName(segment.name, options.listId, target.kind === 'sandbox' ? 'sandbox' : target.hostname),
    connectionId,
    listId: options.listId,
    mapping: {
      email: m.email,
      ...(m.firstName ? { firstName: m.firstName } : {}),
      ...(m.lastName ? { lastName: m.lastName } : {}),
      ...(m.phone ? { phone: m.phone } : {}),
      fields: m.fields,
      tags: { fixed: m.tags },
    },
    segments: [segment.name],
    // The CLI runs it on demand only: no timer or landed segment starts it behind the user's back.
    schedule: 'off',
    membership: options.membership,
  });
  say(`Export ${exportId}: segment "${segment.name}" → list ${options.listId}`);

  // A run left `running` by an interrupted invocation (it resumed with the host): cancel it, wait for it.
  for (const leftover of await api.runningRuns(exportId)) {
    say(
      `An earlier run (${leftover}) was still in progress, left by an interrupted invocation: canceling it and waiting for it to end...`,
    );
    await api.cancelRun(exportId, leftover);
    await waitForEnd(api, exportId, leftover, io, undefined);
  }

  const query = new URLSearchParams();
  if (options.dryRun) query.set('dryRun', 'true');
  if (options.fullResync) query.set('fullResync', 'true');
  if (options.confirmUnsubscribes !== undefined)
    query.set('confirmUnsubscribes', String(options.confirmUnsubscribes));
  const started = await api.startRun(exportId, query);
  let runId = started.runId;
  if (started.outcome === 'followUpRequested') {
    say(
      `Run ${runId} of this export is in progress; waiting for it to end, then following the run that comes after it...`,
    );
    await waitForEnd(api, exportId, runId, io, undefined);
    runId = await waitForFollowUp(api, exportId, runId);
  }
  say(options.dryRun ? `Dry run ${runId} started (nothing is sent)` : `Run ${runId} started`);

  const display = createProgressDisplay(io.out);
  let view: RunStatusView;
  try {
    view = await waitForEnd(api, exportId, runId, io, (v) => display.update(v));
  } catch (error) {
    display.stop();
    if (!(error instanceof Interrupted)) throw error;
    io.err.write(`\nexport: interrupted; canceling run ${runId}...\n`);
    await api.cancelRun(exportId, runId).catch(() => undefined);
    const deadline = Date.now() + CANCEL_WAIT_MS;
    while (Date.now() < deadline) {
      const now = await api.getRun(exportId, runId).catch(() => undefined);
      if (now && now.status !== 'running') break;
      await sleep(500);
    }
    throw error;
  }
  display.update(view);
  display.stop();

  const report = await api.getReport(exportId, runId).catch(() => undefined);
  if (options.reportFile && report) {
    await writeFile(options.reportFile, `${JSON.stringify(report, null, 2)}\n`);
    say(`Report written to ${options.reportFile}`);
  }
  if (options.rejectedFile) {
    const csv = await api.getRejected(exportId, runId);
    await writeFile(options.rejectedFile, csv ?? 'file,line,email,reason,detail\r\n');
    say(`Rejected rows written to ${options.rejectedFile}`);
  }
  for (const line of summary(view, report, options.dryRun)) say(line);
  if (stack.sandbox) {
    const contacts = [...stack.sandbox.state.account(undefined).contacts.values()];
    const inList = contacts.filter((c) => c.lists[String(options.listId)] === 1).length;
    say(`Sandbox: ${contacts.length} contacts, ${inList} subscribed to list ${options.listId}`);
  }
  return view.status === 'succeeded' || view.status === 'succeededWithRejections' ? 0 : 1;
}

/** The export's name: the same segment, list and account give the same export (so runs are incremental). */
export function exportName(segment: string, listId: number, account: string): string {
  const name = `CLI ${segment} to list ${listId} (${account})`;
  if (name.length <= 100) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 12);
  return `${name.slice(0, 86)} ${hash}`;
}

/** Polls a run until it is no longer running. */
async function waitForEnd(
  api: ManagementApi,
  exportId: string,
  runId: string,
  io: Io,
  onView: ((view: RunStatusView) => void) | undefined,
): Promise<RunStatusView> {
  for (;;) {
    if (io.isInterrupted()) throw new Interrupted();
    const view = await api.getRun(exportId, runId);
    if (view.status !== 'running') return view;
    onView?.(view);
    await Promise.race([sleep(POLL_MS), io.interrupted]);
  }
}

/** The follow-up run Finalise started after `previous`. */
async function waitForFollowUp(api: ManagementApi, exportId: string, previous: string): Promise<string> {
  for (let i = 0; i < 30; i++) {
    const newest = await api.newestRun(exportId);
    if (newest && newest !== previous) return newest;
    await sleep(POLL_MS);
  }
  throw new Error(`No follow-up run appeared after run ${previous}`);
}

function summary(
  view: RunStatusView,
  report: Record<string, unknown> | undefined,
  dryRun: boolean,
): string[] {
  const counts = (report?.counts ?? {}) as Record<string, number>;
  const plan = (report?.plan ?? {}) as Record<string, number>;
  const duration =
    typeof report?.durationMs === 'number' ? ` in ${formatDuration(report.durationMs / 1000)}` : '';
  const lines = [`Run ${view.runId} ${view.status}${duration}`];
  if (dryRun) {
    lines.push(
      `  plan (nothing sent): ${plan.adds ?? 0} to add, ${plan.updates ?? 0} to update, ${plan.unchanged ?? 0} unchanged, ` +
        `${plan.unsubscribes ?? 0} to unsubscribe, ${plan.rejects ?? 0} rejected, ${plan.duplicates ?? 0} duplicates`,
    );
  } else {
    lines.push(
      `  rows ${counts.rows ?? 0}: ${counts.valid ?? 0} valid, ${counts.rejected ?? 0} rejected, ${counts.duplicates ?? 0} duplicates`,
      `  contacts: ${counts.sent ?? 0} sent, ${counts.confirmed ?? 0} confirmed, ${counts.failed ?? 0} failed, ` +
        `${counts.unchanged ?? 0} unchanged, ${counts.unsubscribed ?? 0} unsubscribed`,
    );
  }
  if (view.status === 'failed' || view.status === 'canceled')
    lines.push(`  reason: ${view.reason ?? (report?.reason as string | undefined) ?? 'not given'}`);
  return lines;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

if (require.main === module) {
  let interrupt: () => void = () => undefined;
  let interrupted = false;
  const interruptedPromise = new Promise<void>((resolve) => (interrupt = resolve));
  const onSignal = () => {
    if (interrupted) return;
    interrupted = true;
    interrupt();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  runCli(process.argv.slice(2), {
    out: process.stdout,
    err: process.stderr,
    env: process.env,
    interrupted: interruptedPromise,
    isInterrupted: () => interrupted,
  }).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`export: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
