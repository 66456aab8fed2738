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

import { admit } from './admission';
import { answerApi } from './api';
import { createScaledClock, type ScaledClock } from './clock';
import { inspect } from './inspection';
import { DEFAULT_ACCOUNT, type SandboxContext, type SandboxOptions, sandboxSettings } from './settings';
import { NO_FAULTS, SandboxState } from './state';
import { readBody, send } from './wire';

export type { SandboxOptions } from './settings';
export {
  type LoggedRequest,
  NO_FAULTS,
  type SandboxCounters,
  type SandboxFaults,
  SandboxState,
  type ScriptedFault,
} from './state';

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

/** Starts a sandbox on 127.0.0.1 (a free port unless `port` is given). */
export async function startSandbox(options: SandboxOptions = {}): Promise<RunningSandbox> {
  const clock = createScaledClock(options.timeScale ?? 1);
  const accounts = options.accounts ?? [DEFAULT_ACCOUNT];
  const state = new SandboxState(accounts, { ...NO_FAULTS, ...options.faults }, options.seed ?? 1);
  const ctx: SandboxContext = { clock, state, settings: sandboxSettings(options), successSpelling: 0 };
  const sockets = new Set<Socket>();

  const server = http.createServer((req, res) => {
    void handle(ctx, req, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, 500, { message: `sandbox error: ${String(error)}` });
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
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

/** One request: the inspection API, or an `/api/3/` request admitted and answered at its endpoint. */
async function handle(
  ctx: SandboxContext,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  // Arrival time: when the request line arrived, before the body is read.
  const now = ctx.clock.now();
  const url = new URL(req.url ?? '/', 'http://sandbox');
  // The limit is in bytes on the wire (400,000), so keep the raw bytes: `body.length` of the decoded string
  // counts UTF-16 code units and would let a multi-byte (é, 漢) body over the limit through.
  const raw = await readBody(req);
  if (url.pathname.startsWith('/__sandbox/')) return inspect(ctx, req.method ?? 'GET', url, raw.text, res);
  const admitted = await admit(ctx, req, res, url, now);
  if (!admitted) return;
  answerApi(ctx, admitted, req.method ?? 'GET', url, raw);
}
