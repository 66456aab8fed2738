/**
 * `importContacts` end to end against the time-scaled sandbox, as a ratio to the floor: 25,000 contacts are
 * 100 bulk imports, and at ActiveCampaign's 100 bulk imports per minute the floor is one minute. The run
 * includes local checks, every submission, polling alongside the push, resubmissions and the last batch's
 * processing (the sandbox takes 1.5 s + 10 ms per contact, 4 s for 250). Measured with no faults (target
 * ≤ 1.1) and with 10% transport faults (target ≤ 1.3), zero lost; each figure the median of three runs, the
 * two kinds alternating so both see the same machine. "Lost" is checked against the sandbox's own contacts:
 * a contact without exactly one outcome, confirmed but not on the list, or left unconfirmed for any reason
 * other than "outcome unknown" (the bounded resend: the client may not send a third time, and says so; every
 * contact here is valid, so a rejection counts as lost too).
 *
 *   node dist/bench/activecampaignImport.js [contacts=25000] [timeScale=10] [runs=3]
 *
 * Exits non-zero when a target is missed or a contact is lost.
 */
import os from 'node:os';

import { startSandbox } from '../dev/sandbox/server';
import {
  ActiveCampaignClient,
  type BulkImportContact,
  type ContactOutcome,
  DEFAULT_RATE_LIMITS,
  importContacts,
  InProcessRateBudget,
} from '../shared/adapters/activecampaign';
import { writeResults } from './writeResults';

const hostRule = { allowedSuffixes: ['.api-us1.com'], allowLoopbackHttp: true };
/** 10% of API requests meet a transport fault: 503s, resets before and after the work, injected 429s. */
const TEN_PERCENT = { rate503: 0.03, resetBeforeRate: 0.03, resetAfterRate: 0.02, rate429: 0.02 };

interface Run {
  ratio: number;
  elapsedMs: number;
  wallMs: number;
  requests: number;
  polls: number;
  /** Contacts not confirmed (any reason, "outcome unknown" included). */
  notConfirmed: number;
  /** No single outcome, confirmed but not applied, or unconfirmed without "outcome unknown". */
  lost: number;
  unknown: number;
  ambiguousResends: number;
  /** First to last accepted bulk import, over the floor: the push alone. */
  submitRatio: number;
  /** Sandbox ms from the call to the first accepted bulk import (local checks, the first request's build). */
  startMs: number;
  /** Sandbox ms from the last accepted bulk import to the end (its processing, the looks that confirm it). */
  tailMs: number;
}

async function once(total: number, timeScale: number, faulty: boolean, seed: number): Promise<Run> {
  const sandbox = await startSandbox({ timeScale, seed });
  try {
    const client = new ActiveCampaignClient({
      host: sandbox.hostForClient,
      apiKey: sandbox.apiKey,
      hostRule,
      clock: sandbox.clock,
      // 40 real ms of send-path jitter, in sandbox ms (see bench/activecampaign.ts).
      budget: new InProcessRateBudget(sandbox.clock, {
        ...DEFAULT_RATE_LIMITS,
        jitterAllowanceMs: 40 * timeScale,
      }),
    });
    await client.verifyCredentials(); // warm-up: loads undici and opens the connection
    sandbox.state.reset();
    if (faulty) sandbox.state.faults = { ...sandbox.state.faults, ...TEN_PERCENT };
    const contacts: BulkImportContact[] = Array.from({ length: total }, (_, i) => ({
      email: `person${i}@example.com`,
      first_name: `First${i}`,
      subscribe: [{ listid: 1 }],
    }));
    const started = sandbox.clock.now();
    const wallStarted = Date.now();
    const result = await importContacts(client, contacts, { clock: sandbox.clock, concurrency: 4 });
    const elapsedMs = sandbox.clock.now() - started;
    const floorMs = (Math.ceil(total / 250) / DEFAULT_RATE_LIMITS.bulkImportsPerMinute) * 60_000;
    const imports = sandbox.state.log.filter((r) => r.bulkCounted).map((r) => r.at);
    const confirmed = new Set(result.outcomes.filter((o) => o.status === 'confirmed').map((o) => o.email));
    return {
      ratio: elapsedMs / floorMs,
      elapsedMs,
      wallMs: Date.now() - wallStarted,
      requests: sandbox.state.log.length,
      polls: result.polls,
      notConfirmed: total - confirmed.size,
      lost: lostContacts(sandbox, contacts, result.outcomes),
      unknown: result.outcomes.filter((o) => o.reason?.startsWith('outcome unknown')).length,
      ambiguousResends: result.requests.ambiguousResends,
      submitRatio: ((imports.at(-1) ?? 0) - (imports[0] ?? 0)) / floorMs,
      startMs: (imports[0] ?? started) - started,
      tailMs: started + elapsedMs - (imports.at(-1) ?? started),
    };
  } finally {
    await sandbox.stop();
  }
}

/**
 * Contacts the run lost, by the sandbox's own record (every batch applied first): without exactly one outcome,
 * confirmed but not subscribed to the list, or unconfirmed without an "outcome unknown" reason.
 */
function lostContacts(
  sandbox: Awaited<ReturnType<typeof startSandbox>>,
  contacts: readonly BulkImportContact[],
  outcomes: readonly ContactOutcome[],
): number {
  const account = sandbox.state.byKey(sandbox.apiKey);
  account?.advance(sandbox.clock.now() + 60 * 60_000);
  const subscribed = (email: string) => account?.contacts.get(email.toLowerCase())?.lists['1'] === 1;
  const byEmail = new Map<string, ContactOutcome[]>();
  for (const outcome of outcomes)
    byEmail.set(outcome.email, [...(byEmail.get(outcome.email) ?? []), outcome]);
  return contacts.filter(({ email }) => {
    const [outcome, ...more] = byEmail.get(email) ?? [];
    if (!outcome || more.length > 0) return true;
    if (outcome.status === 'confirmed') return !subscribed(email);
    return !outcome.reason?.startsWith('outcome unknown');
  }).length;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

/** Runs the alternating rounds and writes bench/results/activecampaignImport.md. */
export async function main(): Promise<void> {
  const total = Number(process.argv[2] ?? 25_000);
  const timeScale = Number(process.argv[3] ?? 10);
  const runs = Number(process.argv[4] ?? 3);
  const clean: Run[] = [];
  const faulty: Run[] = [];
  for (let i = 0; i < runs; i++) {
    clean.push(await once(total, timeScale, false, 100 + i));
    faulty.push(await once(total, timeScale, true, 200 + i));
  }
  const row = (name: string, target: number, list: Run[]) =>
    `| ${name} | ${list.map((r) => r.ratio.toFixed(3)).join(', ')} | **${median(list.map((r) => r.ratio)).toFixed(3)}** | ≤ ${target} | ${list.map((r) => (r.elapsedMs / 1000).toFixed(1)).join(', ')} | ${list.map((r) => r.requests).join(', ')} | ${list.map((r) => r.polls).join(', ')} | ${list.map((r) => r.ambiguousResends).join(', ')} | ${list.map((r) => r.unknown).join(', ')} | ${list.map((r) => r.notConfirmed).join(', ')} | ${list.map((r) => r.lost).join(', ')} | ${list.map((r) => r.submitRatio.toFixed(3)).join(', ')} | ${list.map((r) => (r.startMs / 1000).toFixed(2)).join(', ')} | ${list.map((r) => (r.tailMs / 1000).toFixed(1)).join(', ')} |`;
  const cleanMedian = median(clean.map((r) => r.ratio));
  const faultyMedian = median(faulty.map((r) => r.ratio));
  const md = [
    '# ActiveCampaign importContacts end to end',
    '',
    `Command: \`npm run build && node dist/bench/activecampaignImport.js ${total} ${timeScale} ${runs}\` (or \`npm run bench -- activecampaignImport\`)`,
    `Date: ${new Date().toISOString()}`,
    `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model.split(' ')[0] ?? 'CPU'}, Node ${process.version}, ${os.platform()}; shared with other engineers' jobs. Sandbox time scale ${timeScale}×, in the same process.`,
    '',
    `${total.toLocaleString('en-US')} contacts = ${Math.ceil(total / 250)} bulk imports; the floor is their submission at ActiveCampaign's 100 bulk imports/min (${((Math.ceil(total / 250) / 100) * 60).toFixed(0)} s sandbox time). The ratio is the whole \`importContacts\` (submit, poll alongside, resubmit, the last batch processed and confirmed) over the floor; the client itself uses 98% of the budget, and the sandbox takes 4 s to process a batch of 250. Faults: 10% of API requests (3% 503, 3% reset before the work, 2% reset after it — an applied import whose answer is lost — 2% injected 429 with Retry-After 1 s). Runs alternate clean / faulty; each figure is the median of ${runs}.`,
    '',
    '| run | ratios | median | target | sandbox s | requests | polls | ambiguous resends | outcome unknown | not confirmed | lost | push alone / floor | first import after (s) | tail after last import (s) |',
    '|---|---|---:|---:|---|---|---|---|---|---|---|---|---|---|',
    row('no faults', 1.1, clean),
    row('10% faults', 1.3, faulty),
    '',
  ].join('\n');
  console.log(md);
  writeResults('activecampaignImport', md);
  const failures = [
    ...(cleanMedian > 1.1 ? [`no-fault median ${cleanMedian.toFixed(3)} above 1.1`] : []),
    ...(faultyMedian > 1.3 ? [`10%-fault median ${faultyMedian.toFixed(3)} above 1.3`] : []),
    ...[...clean, ...faulty].filter((r) => r.lost > 0).map((r) => `${r.lost} contact(s) lost`),
  ];
  if (failures.length) {
    console.error(`FAIL: ${failures.join('; ')}`);
    process.exitCode = 1;
  }
}

if (require.main === module)
  void main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
