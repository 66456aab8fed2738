/**
 * ActiveCampaign push benchmark against the time-scaled sandbox: the client's achieved bulk-import rate as a
 * fraction of the configured budget (target ≥ 0.95, zero lost contacts), side by side with a naive client that
 * sends one contact per request (`contact/sync` + `contactLists`, the path the exporter never uses).
 *
 *   node dist/bench/activecampaign.js [contacts=60000] [timeScale=15] [naiveContacts=2000] [naiveTimeScale=5]
 *
 * Exits non-zero when the sandbox refused any of this client's requests (429 or bulk 400) that was not an
 * injected fault, when it used less than 95% of the bulk-import budget, or when it lost a contact.
 *
 * Times are sandbox ("real-equivalent") time: what the same run would take against ActiveCampaign's real
 * budgets of 5 requests/s and 100 bulk imports/min.
 */

import os from 'node:os';

import { type LoggedRequest, startSandbox } from '../dev/sandbox/server';
import {
  ActiveCampaignClient,
  type BulkImportContact,
  DEFAULT_RATE_LIMITS,
  importContacts,
  InProcessRateBudget,
} from '../shared/adapters/activecampaign';
import { writeResults } from './writeResults';

const hostRule = { allowedSuffixes: ['.api-us1.com'], allowLoopbackHttp: true };

function minutes(ms: number): string {
  return ms >= 3_600_000 ? `${(ms / 3_600_000).toFixed(1)} h` : `${(ms / 60_000).toFixed(1)} min`;
}

/**
 * The default budgets, with the jitter allowance in sandbox ms: the client and the sandbox share one event loop
 * on a busy machine, so a request can reach the sandbox 10–25 real ms later than the one after it; at 15× that is
 * up to 375 sandbox ms, more than the 10% safety margin (111 ms over five requests) absorbs. Without it the bench
 * saw 157 429s in 20,157 naive requests at 25× (arrivals compressed to 6 in under 1 s) and one bulk 400; with
 * 15 real ms, 12 429s in 12,012 at 15×. 40 real ms is the allowance; the naive client runs at a low scale so
 * that allowance costs it few sandbox ms (it is what makes the comparison fair to it).
 */
function limitsFor(timeScale: number) {
  return { ...DEFAULT_RATE_LIMITS, jitterAllowanceMs: 40 * timeScale };
}

/** Runs both clients and writes bench/results/activecampaign.md. */
export async function main(): Promise<void> {
  const total = Number(process.argv[2] ?? 60_000);
  // 15×: at higher scales a 1 ms real timer delay is already 2–3% of a 612 ms slot and the ratio measures the machine.
  const timeScale = Number(process.argv[3] ?? 15);
  // The naive client is 2 requests per contact at 4.5 requests/s: 10,000 contacts are ~74 sandbox minutes, so it
  // gets its own (higher) time scale to be measured, not extrapolated, within ~3 real minutes.
  const naiveContacts = Number(process.argv[4] ?? 2_000);
  const naiveTimeScale = Number(process.argv[5] ?? 5);

  // Bulk client: every contact through bulk import, paced under both budgets, reconciled by email.
  const sandbox = await startSandbox({ timeScale, seed: 42 });
  const client = new ActiveCampaignClient({
    host: sandbox.hostForClient,
    apiKey: sandbox.apiKey,
    hostRule,
    clock: sandbox.clock,
    budget: new InProcessRateBudget(sandbox.clock, limitsFor(timeScale)),
  });
  await client.verifyCredentials(); // warm-up: loads undici and opens the connection
  sandbox.state.reset();
  const contacts: BulkImportContact[] = Array.from({ length: total }, (_, i) => ({
    email: `person${i}@example.com`,
    first_name: `First${i}`,
    last_name: `Last${i}`,
    subscribe: [{ listid: 1 }],
  }));
  const started = sandbox.clock.now();
  const wallStarted = Date.now();
  const result = await importContacts(client, contacts, { clock: sandbox.clock, concurrency: 4 });
  const bulkElapsed = sandbox.clock.now() - started;
  const wallElapsed = Date.now() - wallStarted;
  const imports = sandbox.state.log.filter((r) => r.bulkCounted).map((r) => r.at);
  const submitSpan = (imports.at(-1) ?? 0) - (imports[0] ?? 0);
  const achievedPerMinute = ((imports.length - 1) / submitSpan) * 60_000;
  const fraction = achievedPerMinute / DEFAULT_RATE_LIMITS.bulkImportsPerMinute;
  const confirmed = new Set(result.outcomes.filter((o) => o.status === 'confirmed').map((o) => o.email));
  const lost = total - confirmed.size;
  const bulkRequests = sandbox.state.log.length;
  const refusals = refusedByTheSandbox(sandbox.state.log);
  await sandbox.stop();

  // Naive client: contact/sync then contactLists per contact, paced at the same 5 rps budget.
  const naive = await startSandbox({ timeScale: naiveTimeScale, seed: 43 });
  const budget = new InProcessRateBudget(naive.clock, limitsFor(naiveTimeScale));
  const post = async (pathName: string, body: unknown): Promise<Record<string, unknown>> => {
    for (;;) {
      await budget.acquire('request');
      const response = await fetch(`${naive.url}/api/3/${pathName}`, {
        method: 'POST',
        headers: { 'Api-Token': naive.apiKey, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
      const json = (await response.json()) as Record<string, unknown>;
      if (response.status !== 429) return json;
    }
  };
  await post('contact/sync', { contact: { email: 'warmup@example.com' } });
  naive.state.reset();
  const naiveStarted = naive.clock.now();
  const naiveWallStarted = Date.now();
  for (let i = 0; i < naiveContacts; i++) {
    const synced = (await post('contact/sync', {
      contact: { email: `person${i}@example.com`, firstName: `First${i}` },
    })) as {
      contact: { id: string };
    };
    await post('contactLists', { contactList: { list: 1, contact: Number(synced.contact.id), status: 1 } });
  }
  const naiveElapsed = naive.clock.now() - naiveStarted;
  const naiveWall = Date.now() - naiveWallStarted;
  const naiveRequests = naive.state.log.length;
  const naiveRefusals = refusedByTheSandbox(naive.state.log);
  await naive.stop();

  const per10k = (value: number, n: number) => (value * 10_000) / n;
  const bulkPer10kRequests = per10k(bulkRequests, total);
  // Steady state: submissions are bound by the bulk budget, so 10,000 contacts (40 imports) cost 40 slots of it.
  const bulkPer10kMs = per10k(submitSpan, total);
  const naivePer10kRequests = per10k(naiveRequests, naiveContacts);
  const naivePer10kMs = per10k(naiveElapsed, naiveContacts);
  const rows = [
    `| bulk import (this client) | ${total.toLocaleString('en-US')} | ${bulkRequests} | ${imports.length} | ${minutes(bulkElapsed)} | ${Math.round(bulkPer10kRequests)} | ${minutes(bulkPer10kMs)} | ${lost} |`,
    `| naive sync + contactLists | ${naiveContacts.toLocaleString('en-US')} | ${naiveRequests} | 0 | ${minutes(naiveElapsed)} | ${Math.round(naivePer10kRequests)} | ${minutes(naivePer10kMs)} | 0 |`,
  ];
  const md = [
    '# ActiveCampaign push benchmark',
    '',
    `Command: \`npx tsc -p tsconfig.build.json && node dist/bench/activecampaign.js ${total} ${timeScale}\``,
    `Date: ${new Date().toISOString()}`,
    `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model.split(' ')[0] ?? 'CPU'}, Node ${process.version}, ${os.platform()}; shared with other engineers' jobs. Sandbox time scale ${timeScale}× for the bulk client, ${naiveTimeScale}× for the naive one (a sandbox minute = ${(60 / timeScale).toFixed(1)} / ${(60 / naiveTimeScale).toFixed(1)} real s); the sandbox runs in the same process.`,
    '',
    "Times are sandbox time, i.e. what the run would take against ActiveCampaign's real budgets (5 requests/s, 100 bulk imports/min).",
    `Measured: both rows, in full (bulk: ${total.toLocaleString('en-US')} contacts; naive: ${naiveContacts.toLocaleString('en-US')} contacts, ${(naiveWall / 1000).toFixed(0)} s wall). Extrapolated: only the "/ 10k" columns${total === 10_000 && naiveContacts === 10_000 ? ' (none: both runs are 10,000 contacts)' : ', scaled linearly from the measured runs (both clients are bound by a fixed rate, so time and requests grow linearly)'}; the 1,000,000-contact figures in the README are extrapolations too.`,
    '',
    '| client | contacts | requests | bulk imports | sandbox time | requests / 10k | submit time / 10k | lost contacts |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
    '',
    `Achieved bulk-import rate: **${achievedPerMinute.toFixed(1)} / min = ${fraction.toFixed(3)} of the configured 100 / min** (target ≥ 0.95; the client deliberately uses 98% as its jitter margin). Requests refused by the sandbox (429 or bulk 400, no faults injected): this client ${refusals.length}${refusals.length === 0 ? '' : ' — **FAIL**: ' + refusals.slice(0, 5).join('; ')}; the naive baseline ${naiveRefusals.length} (reported, not judged: it is the straw man, not our client)${naiveRefusals.length === 0 ? '' : ': ' + naiveRefusals.slice(0, 3).join('; ')}. Whole run incl. reconciliation of the last batches: ${minutes(bulkElapsed)} sandbox time, ${(wallElapsed / 1000).toFixed(1)} s wall.`,
    `Per 10,000 contacts the naive client needs ${(naivePer10kRequests / bulkPer10kRequests).toFixed(0)}× the requests and ${(naivePer10kMs / Math.max(1, bulkPer10kMs)).toFixed(0)}× the time (and re-subscribes opt-outs).`,
    '',
  ].join('\n');
  console.log(md);
  writeResults('activecampaign', md);
  // The targets of this client: every refusal ActiveCampaign did not inject is a pacing bug, the budget must be
  // used to at least 95%, and no contact may be lost.
  const failures = [
    ...(refusals.length
      ? [
          `the sandbox refused ${refusals.length} request(s) that were not injected faults:\n${refusals.join('\n')}`,
        ]
      : []),
    ...(fraction < 0.95
      ? [`achieved ${fraction.toFixed(3)} of the bulk-import budget, below the 0.95 target`]
      : []),
    ...(lost > 0 ? [`${lost} contact(s) lost`] : []),
  ];
  if (failures.length) {
    console.error(`FAIL: ${failures.join('; ')}`);
    process.exitCode = 1;
  }
}

/**
 * Every request the sandbox refused for the budget (429 or bulk import's 400) that was not an injected fault,
 * with the arrival gaps of the requests before it, so a refusal says why it happened.
 */
function refusedByTheSandbox(log: readonly LoggedRequest[]): string[] {
  const counted = log.filter((r) => r.rateCounted).map((r) => r.at);
  return log
    .filter((r) => r.outcome === 'throttled' || r.outcome === 'bulk-throttled')
    .map((r) => {
      const before = counted
        .filter((at) => at <= r.at && at > r.at - 1_000)
        .map((at) => Math.round(r.at - at));
      return `#${r.seq} ${r.method} ${r.path.split('?')[0]} ${r.outcome}: counted requests in the second before it arrived at -${before.join(', -')} ms`;
    });
}

if (require.main === module)
  void main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
