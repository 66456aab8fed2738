/**
 * The ActiveCampaign sandbox: an HTTP server implementing what docs/activecampaign.md describes, quirks included,
 * with a time scale, seeded fault injection and an inspection API under `/__sandbox/`.
 *
 * Choices where the doc leaves room (each UNCONFIRMED upstream):
 * - Bad or missing `Api-Token` → 403 `{"errors":[...]}` (401 with `authFailureStatus: 401`).
 * - Rate windows are sliding: at most 5 API requests in any 1 s and 100 multi-contact (20 single-contact)
 *   bulk imports in any 60 s, in sandbox time. Bulk imports also count against the 5 rps window. Requests
 *   refused with 429 (or bulk import's 400) do not count.
 * - A bulk body of 400,000 bytes or more → 413 `{"message": ...}` (AC documents the limit, not the status).
 *   More than 250 contacts → 400 with `failureReasons` (nothing queued).
 * - A bad or missing email rejects the whole request (the documented 400 example) by default; with
 *   `invalidEmailMode: 'per-contact'` it is skipped and listed under `failure` instead. `contact` in
 *   `failureReasons` counts from `failureReasonIndexBase` (0 by default).
 * - An opted-out contact (status 2 on a list the import subscribes to) is skipped and listed under `failure`.
 * - The success flag alternates between `success` and `Success` (the docs spell it both ways).
 * - Faults: random per request (seeded) or scripted for the next requests (`state.scripted`, or
 *   `POST /__sandbox/faults {"script":[...]}`), so a test can say exactly which request fails and how.
 * - Batches: `status:false` for 1 s after the POST, `waiting` until 1.2 s, `claimed` until 1.5 s, `active` for 10 ms per contact,
 *   then `completed` (or an injected `failed` / `interrupted`, which apply none / half of the contacts).
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

import { type AccountOptions, SandboxAccount, sandboxEmailValid, type WireContact } from './account';
import { createScaledClock, type ScaledClock } from './clock';
import { seededRandom } from './random';

/** Faults the sandbox injects into `/api/3/` traffic, each a probability per request unless noted. */
export interface SandboxFaults {
  rate429: number;
  rate503: number;
  /** Destroy the socket before doing anything. */
  resetBeforeRate: number;
  /** Do the work (e.g. queue the import), then destroy the socket instead of answering. */
  resetAfterRate: number;
  /** Added latency per request, in sandbox ms (scaled like everything else). */
  latencyMs: number;
  latencyJitterMs: number;
  failedBatchRate: number;
  interruptedBatchRate: number;
  /** Retry-After of an injected 429, in sandbox seconds. */
  injectedRetryAfterSeconds: number;
  /** How every 429 states Retry-After. */
  retryAfterFormat: 'seconds' | 'http-date';
}

/** A fault for the next API request, consumed in order before any random fault (deterministic tests). */
export type ScriptedFault =
  | { type: 'throttle'; retryAfterSeconds?: number }
  | { type: 'unavailable' }
  | { type: 'server-error'; status?: number }
  | { type: 'reset-before' }
  | { type: 'reset-after' }
  | { type: 'delay'; ms: number };

export const NO_FAULTS: SandboxFaults = {
  rate429: 0,
  rate503: 0,
  resetBeforeRate: 0,
  resetAfterRate: 0,
  latencyMs: 0,
  latencyJitterMs: 0,
  failedBatchRate: 0,
  interruptedBatchRate: 0,
  injectedRetryAfterSeconds: 1,
  retryAfterFormat: 'seconds',
};

export interface SandboxOptions {
  port?: number;
  /** 60 = a sandbox minute passes in one real second. */
  timeScale?: number;
  seed?: number;
  accounts?: AccountOptions[];
  faults?: Partial<SandboxFaults>;
  authFailureStatus?: 401 | 403;
  requestsPerSecond?: number;
  bulkImportsPerMinute?: number;
  singleContactImportsPerMinute?: number;
  invalidEmailMode?: 'reject-request' | 'per-contact';
  failureReasonIndexBase?: 0 | 1;
  batchReadyDelayMs?: number;
  batchWaitingMs?: number;
  /** How much of the waiting time import/info reports `claimed` instead of `waiting`. */
  batchClaimedMs?: number;
  batchMsPerContact?: number;
}

/** One line of the request log. Never holds headers, so never an API key. */
export interface LoggedRequest {
  seq: number;
  /** Sandbox-clock ms when the request arrived. */
  at: number;
  method: string;
  path: string;
  account: string | undefined;
  /** HTTP status sent; 0 when the socket was destroyed instead. */
  status: number;
  /** What happened: ok, auth, throttled, bulk-throttled, injected-429, injected-503, reset-before, reset-after, invalid, too-large, not-found. */
  outcome: string;
  /** Counted against the 5 rps window. */
  rateCounted: boolean;
  /** Counted against a bulk imports/min window. */
  bulkCounted: boolean;
  contacts?: number;
  batchId?: string;
}

export interface SandboxCounters {
  throttled: number;
  bulkThrottled: number;
  injected429: number;
  injected503: number;
  resets: number;
  bulkImportsAccepted: number;
}

function emptyCounters(): SandboxCounters {
  return {
    throttled: 0,
    bulkThrottled: 0,
    injected429: 0,
    injected503: 0,
    resets: 0,
    bulkImportsAccepted: 0,
  };
}

/** The live state behind a sandbox, for in-process inspection by tests. */
export class SandboxState {
  readonly accounts: SandboxAccount[];
  readonly log: LoggedRequest[] = [];
  faults: SandboxFaults;
  counters: SandboxCounters = emptyCounters();
  readonly rpsWindow = new Map<string, number[]>();
  readonly bulkWindow = new Map<string, number[]>();
  readonly singleWindow = new Map<string, number[]>();
  random: () => number;
  /** Scripted faults for the next API requests (after authentication and the rps check). */
  readonly scripted: ScriptedFault[] = [];

  constructor(accounts: AccountOptions[], faults: SandboxFaults, seed: number) {
    this.accounts = accounts.map((a) => new SandboxAccount(a));
    this.faults = faults;
    this.random = seededRandom(seed);
  }

  account(name?: string): SandboxAccount {
    const account = name === undefined ? this.accounts[0] : this.accounts.find((a) => a.name === name);
    if (!account) throw new Error(`no sandbox account ${name ?? ''}`);
    return account;
  }

  byKey(key: string | undefined): SandboxAccount | undefined {
    return key === undefined ? undefined : this.accounts.find((a) => a.apiKeys.has(key));
  }

  /** Forgets contacts, batches, the request log and the rate windows; optionally reseeds. */
  reset(seed?: number): void {
    for (const account of this.accounts) account.reset();
    this.log.length = 0;
    this.scripted.length = 0;
    this.rpsWindow.clear();
    this.bulkWindow.clear();
    this.singleWindow.clear();
    this.counters = emptyCounters();
    if (seed !== undefined) this.random = seededRandom(seed);
  }
}

export interface RunningSandbox {
  /** e.g. `http://127.0.0.1:5123` */
  url: string;
  /** What to give the client as the ActiveCampaign host, e.g. `127.0.0.1:5123` (loopback dev rule). */
  hostForClient: string;
  /** The first account's first API key. */
  apiKey: string;
  clock: ScaledClock;
  state: SandboxState;
  stop(): Promise<void>;
}

const DEFAULT_ACCOUNT: AccountOptions = {
  name: 'sandbox',
  apiKeys: ['sandbox-api-key-0123456789'],
  lists: [{ id: 1, name: 'Sandbox list' }],
};
const MAX_BODY_BYTES = 5_000_000;
const BULK_LIMIT_BYTES = 400_000;

/** Starts a sandbox on 127.0.0.1 (a free port unless `port` is given). */
export async function startSandbox(options: SandboxOptions = {}): Promise<RunningSandbox> {
  const clock = createScaledClock(options.timeScale ?? 1);
  const accounts = options.accounts ?? [DEFAULT_ACCOUNT];
  const state = new SandboxState(accounts, { ...NO_FAULTS, ...options.faults }, options.seed ?? 1);
  const settings = {
    authFailureStatus: options.authFailureStatus ?? 403,
    rps: options.requestsPerSecond ?? 5,
    bulkPerMinute: options.bulkImportsPerMinute ?? 100,
    singlePerMinute: options.singleContactImportsPerMinute ?? 20,
    invalidEmailMode: options.invalidEmailMode ?? 'reject-request',
    indexBase: options.failureReasonIndexBase ?? 0,
    timing: {
      readyDelayMs: options.batchReadyDelayMs ?? 1_000,
      waitingMs: options.batchWaitingMs ?? 1_500,
      claimedMs: options.batchClaimedMs ?? 300,
      msPerContact: options.batchMsPerContact ?? 10,
    },
  };
  let successSpelling = 0;
  const sockets = new Set<Socket>();

  const server = http.createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, 500, { message: `sandbox error: ${String(error)}` });
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    // Arrival time: when the request line arrived, before the body is read.
    const now = clock.now();
    const url = new URL(req.url ?? '/', 'http://sandbox');
    // The limit is in bytes on the wire (400,000), so keep the raw bytes: `body.length` of the decoded string
    // counts UTF-16 code units and would let a multi-byte (é, 漢) body over the limit through.
    const raw = await readBody(req);
    const body = raw.text;
    if (url.pathname.startsWith('/__sandbox/')) return inspect(req.method ?? 'GET', url, body, res);
    const entry: LoggedRequest = {
      seq: state.log.length + 1,
      at: now,
      method: req.method ?? 'GET',
      path: url.pathname + url.search,
      account: undefined,
      status: 0,
      outcome: 'ok',
      rateCounted: false,
      bulkCounted: false,
    };
    state.log.push(entry);
    const reply = (
      status: number,
      payload: unknown,
      outcome = entry.outcome,
      headers: Record<string, string> = {},
    ) => {
      entry.status = status;
      entry.outcome = outcome;
      send(res, status, payload, headers);
    };
    const destroy = (outcome: string) => {
      entry.outcome = outcome;
      state.counters.resets++;
      req.socket.destroy();
    };
    const faults = state.faults;
    if (state.random() < faults.resetBeforeRate) return destroy('reset-before');
    if (faults.latencyMs > 0 || faults.latencyJitterMs > 0) {
      await clock.sleep(faults.latencyMs + state.random() * faults.latencyJitterMs);
    }
    const account = state.byKey(headerValue(req.headers['api-token']));
    if (!account) {
      return reply(
        settings.authFailureStatus,
        { errors: [{ title: 'You are not authorized to access this resource', code: 'forbidden' }] },
        'auth',
      );
    }
    entry.account = account.name;
    account.advance(clock.now());

    // The account-wide 5 requests/s budget, shared by every key (developers.activecampaign.com/reference/rate-limits).
    const rps = window(state.rpsWindow, account.name);
    const arrival = now;
    prune(rps, arrival, 1000);
    if (rps.length >= settings.rps) {
      state.counters.throttled++;
      const waitMs = (rps[0] ?? arrival) + 1000 - arrival;
      return reply(429, { message: 'Too Many Requests' }, 'throttled', {
        'Retry-After': retryAfter(Math.max(1, Math.ceil(waitMs / 1000)), arrival),
        'RateLimit-Limit': String(settings.rps),
        'RateLimit-Remaining': '0',
      });
    }
    insertSorted(rps, arrival);
    entry.rateCounted = true;
    const rateHeaders = {
      'RateLimit-Limit': String(settings.rps),
      'RateLimit-Remaining': String(settings.rps - rps.length),
    };

    const scripted = state.scripted.shift();
    if (scripted?.type === 'reset-before') return destroy('reset-before');
    if (scripted?.type === 'delay') await clock.sleep(scripted.ms);
    if (scripted?.type === 'throttle') {
      state.counters.injected429++;
      return reply(429, { message: 'Too Many Requests' }, 'injected-429', {
        'Retry-After': retryAfter(scripted.retryAfterSeconds ?? faults.injectedRetryAfterSeconds, arrival),
      });
    }
    if (scripted?.type === 'unavailable' || scripted?.type === 'server-error') {
      state.counters.injected503++;
      const status = scripted.type === 'unavailable' ? 503 : (scripted.status ?? 500);
      return reply(status, '<html><body>Service error</body></html>', `injected-${status}`);
    }
    if (state.random() < faults.rate429) {
      state.counters.injected429++;
      return reply(429, { message: 'Too Many Requests' }, 'injected-429', {
        'Retry-After': retryAfter(faults.injectedRetryAfterSeconds, arrival),
      });
    }
    if (state.random() < faults.rate503) {
      state.counters.injected503++;
      return reply(503, '<html><body>503 Service Temporarily Unavailable</body></html>', 'injected-503');
    }
    const resetAfter = scripted?.type === 'reset-after' || state.random() < faults.resetAfterRate;
    const ok = (payload: unknown) =>
      resetAfter ? destroy('reset-after') : reply(200, payload, 'ok', rateHeaders);
    const path = url.pathname.replace(/\/+$/, '');
    const method = req.method ?? 'GET';

    if (method === 'GET' && path === '/api/3/users/me') {
      return ok({
        user: {
          id: '1',
          username: 'admin',
          firstName: 'Sandbox',
          lastName: 'Admin',
          email: 'admin@example.com',
        },
      });
    }
    const listMatch = /^\/api\/3\/lists\/([^/]+)$/.exec(path);
    if (method === 'GET' && listMatch) {
      const list = account.lists.get(decodeURIComponent(listMatch[1] ?? ''));
      if (!list)
        return reply(404, { message: `No Result found for _List with id ${listMatch[1]}` }, 'not-found');
      return ok({ list: { ...list, cdate: '2024-01-01T00:00:00-06:00', userid: '1' } });
    }
    if (method === 'GET' && path === '/api/3/import/info') {
      const batch = account.batches.get(url.searchParams.get('batchId') ?? '');
      if (!batch) return reply(404, { message: 'No Result found for batch' }, 'not-found');
      return ok(account.info(batch, clock.now()));
    }
    if (method === 'POST' && path === '/api/3/import/bulk_import') {
      if (raw.byteLength >= BULK_LIMIT_BYTES) {
        return reply(
          413,
          { message: 'Request body too large: bulk import bodies must be under 400,000 bytes.' },
          'too-large',
        );
      }
      const payload = parseJson(body) as { contacts?: unknown } | undefined;
      const contacts = Array.isArray(payload?.contacts) ? (payload.contacts as WireContact[]) : undefined;
      const single = contacts?.length === 1;
      // Bulk import's own budget: 100 multi-contact or 20 single-contact requests per minute; over it, a 400.
      const bulk = window(single ? state.singleWindow : state.bulkWindow, account.name);
      prune(bulk, arrival, 60_000);
      const limit = single ? settings.singlePerMinute : settings.bulkPerMinute;
      if (bulk.length >= limit) {
        state.counters.bulkThrottled++;
        return reply(
          400,
          {
            success: 0,
            message: 'Rate limit exceeded.',
            failureReasons: [
              `Up to ${limit} imports may be requested per minute.Please batch contacts into larger requests, or retry this request in a minute.`,
            ],
          },
          'bulk-throttled',
        );
      }
      insertSorted(bulk, arrival);
      entry.bulkCounted = true;
      entry.contacts = contacts?.length;
      const failureReasons = validateImport(contacts);
      if (failureReasons.length > 0) {
        return reply(
          400,
          {
            success: 0,
            message: 'JSON payload did not pass validation. Please correct the errors and resubmit.',
            failureReasons,
          },
          'invalid',
        );
      }
      const list = contacts ?? [];
      const roll = state.random();
      const fate =
        roll < faults.failedBatchRate
          ? 'failed'
          : roll < faults.failedBatchRate + faults.interruptedBatchRate
            ? 'interrupted'
            : 'completed';
      const batch = account.queueBatch(list, clock.now(), settings.timing, fate);
      entry.batchId = batch.id;
      state.counters.bulkImportsAccepted++;
      const key = successSpelling++ % 2 === 0 ? 'success' : 'Success';
      return ok({
        [key]: 1,
        queued_contacts: list.length,
        batchId: batch.id,
        message: 'Contact import queued',
      });
    }
    if (method === 'POST' && path === '/api/3/contact/sync') {
      const contact = (
        parseJson(body) as
          | { contact?: { email?: unknown; firstName?: unknown; lastName?: unknown; phone?: unknown } }
          | undefined
      )?.contact;
      if (!contact || !sandboxEmailValid(contact.email)) {
        return reply(
          422,
          {
            errors: [
              {
                title: 'Email address is invalid.',
                code: 'email_invalid',
                source: { pointer: '/data/attributes/email' },
              },
            ],
          },
          'invalid',
        );
      }
      const saved = account.upsert(contact.email, {
        firstName: typeof contact.firstName === 'string' ? contact.firstName : undefined,
        lastName: typeof contact.lastName === 'string' ? contact.lastName : undefined,
        phone: typeof contact.phone === 'string' ? contact.phone : undefined,
      });
      return ok({
        contact: {
          id: saved.id,
          email: saved.email,
          firstName: saved.firstName,
          lastName: saved.lastName,
          phone: saved.phone,
        },
      });
    }
    if (method === 'POST' && path === '/api/3/contactLists') {
      const link = (
        parseJson(body) as
          { contactList?: { list?: unknown; contact?: unknown; status?: unknown } } | undefined
      )?.contactList;
      const contact = account.contactById(String(link?.contact));
      const list = account.lists.get(String(link?.list));
      const status = Number(link?.status);
      if (!contact || !list || (status !== 1 && status !== 2)) {
        return reply(422, { errors: [{ title: 'The related contact or list does not exist.' }] }, 'invalid');
      }
      // The quirk the exporter avoids: this DOES move an unsubscribed contact (2) back to subscribed (1).
      contact.lists[list.id] = status;
      return ok({
        contacts: [{ id: contact.id, email: contact.email }],
        contactList: { contact: contact.id, list: list.id, status: String(status) },
      });
    }
    return reply(404, { message: 'Not Found' }, 'not-found');
  }

  function validateImport(contacts: WireContact[] | undefined): unknown[] {
    if (!contacts || contacts.length === 0)
      return ['The contacts field is required and must be a non-empty array.'];
    if (contacts.length > 250)
      return [`A maximum of 250 contacts may be imported per request; got ${contacts.length}.`];
    const reasons: unknown[] = [];
    contacts.forEach((contact, i) => {
      const index = i + settings.indexBase;
      if (!contact || typeof contact !== 'object')
        reasons.push({ contact: index, failureReason: 'Contact must be an object' });
      else if (settings.invalidEmailMode === 'reject-request' && !sandboxEmailValid(contact.email)) {
        reasons.push({ contact: index, failureReason: "Field' email' incorrect format" });
      }
    });
    return reasons;
  }

  function retryAfter(seconds: number, now: number): string {
    if (state.faults.retryAfterFormat === 'seconds') return String(seconds);
    // An HTTP-date has one-second resolution: round up so "retry at" is never earlier than meant.
    return new Date(Math.ceil((now + seconds * 1000) / 1000) * 1000).toUTCString();
  }

  function inspect(method: string, url: URL, body: string, res: http.ServerResponse): void {
    const now = clock.now();
    for (const account of state.accounts) account.advance(now);
    const route = `${method} ${url.pathname.replace(/\/+$/, '')}`;
    const accountName = url.searchParams.get('account') ?? undefined;
    switch (route) {
      case 'GET /__sandbox/state':
        return send(res, 200, {
          now,
          timeScale: clock.timeScale,
          faults: state.faults,
          counters: state.counters,
          accounts: state.accounts.map((a) => ({
            name: a.name,
            contacts: a.contacts.size,
            lists: [...a.lists.values()],
            batches: a.batches.size,
          })),
        });
      case 'GET /__sandbox/contacts':
        return send(res, 200, { contacts: [...state.account(accountName).contacts.values()] });
      case 'GET /__sandbox/batches':
        return send(res, 200, {
          batches: [...state.account(accountName).batches.values()].map(({ contacts, ...rest }) => ({
            ...rest,
            size: contacts.length,
          })),
        });
      case 'GET /__sandbox/requests':
        return send(res, 200, { requests: state.log });
      case 'POST /__sandbox/reset': {
        const seed = (parseJson(body) as { seed?: number } | undefined)?.seed;
        state.reset(typeof seed === 'number' ? seed : undefined);
        return send(res, 200, { ok: true });
      }
      case 'POST /__sandbox/faults': {
        const { script, ...faults } = (parseJson(body) ?? {}) as Partial<SandboxFaults> & {
          script?: ScriptedFault[];
        };
        state.faults = { ...state.faults, ...faults };
        state.scripted.push(...(script ?? []));
        return send(res, 200, { faults: state.faults, scripted: state.scripted });
      }
      case 'POST /__sandbox/contacts': {
        const seed = parseJson(body) as
          { contacts?: { email: string; lists?: Record<string, 1 | 2> }[] } | undefined;
        const account = state.account(accountName);
        for (const c of seed?.contacts ?? []) Object.assign(account.upsert(c.email).lists, c.lists ?? {});
        return send(res, 200, { ok: true });
      }
      default:
        return send(res, 404, { message: `unknown inspection route ${route}` });
    }
  }

  server.listen(options.port ?? 0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    hostForClient: `127.0.0.1:${port}`,
    apiKey: accounts[0]?.apiKeys[0] ?? '',
    clock,
    state,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

function send(
  res: http.ServerResponse,
  status: number,
  payload: unknown,
  headers: Record<string, string> = {},
): void {
  const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
  res.writeHead(status, {
    'Content-Type': typeof payload === 'string' ? 'text/html' : 'application/json',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** The body as UTF-8 text plus its true size in bytes (counted in full even past the kept 5 MB). */
async function readBody(req: http.IncomingMessage): Promise<{ text: string; byteLength: number }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  }
  return { text: Buffer.concat(chunks).toString('utf8'), byteLength: size };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function window(windows: Map<string, number[]>, account: string): number[] {
  let list = windows.get(account);
  if (!list) windows.set(account, (list = []));
  return list;
}

/** Drops timestamps at or before `now - span`: the window is (now − span, now]. */
function prune(list: number[], now: number, span: number): void {
  let drop = 0;
  while (drop < list.length && (list[drop] ?? 0) <= now - span) drop++;
  if (drop > 0) list.splice(0, drop);
}

/** Keeps a window sorted even when a delayed request is counted after a later one. */
function insertSorted(list: number[], value: number): void {
  let i = list.length;
  while (i > 0 && (list[i - 1] ?? 0) > value) i--;
  list.splice(i, 0, value);
}
