/**
 * What an `/api/3/` request goes through before its endpoint, in ActiveCampaign's order as the sandbox
 * models it: the request log entry, a reset or latency fault, authentication (`Api-Token`), the account's
 * 5 requests/s sliding window (429 + Retry-After), then scripted and random faults. An admitted request
 * gets `reply` / `ok` to answer with; otherwise it has been answered (or its socket destroyed) here.
 */
import type http from 'node:http';

import type { SandboxAccount } from './account';
import type { SandboxContext } from './settings';
import type { LoggedRequest, SandboxState, ScriptedFault } from './state';
import { headerValue, insertSorted, prune, send, window } from './wire';

/** An admitted API request: its account, log entry and the ways to answer it. */
export interface Admitted {
  account: SandboxAccount;
  entry: LoggedRequest;
  /** Arrival time in sandbox ms (when the request line arrived). */
  arrival: number;
  reply: (status: number, payload: unknown, outcome?: string, headers?: Record<string, string>) => void;
  /** A 200 with the rate headers, or a reset after the work when a reset-after fault applies. */
  ok: (payload: unknown) => void;
}

/** Logs the request and applies auth, the rate window and faults; undefined when it was answered here. */
export async function admit(
  ctx: SandboxContext,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  url: URL,
  now: number,
): Promise<Admitted | undefined> {
  const { clock, state, settings } = ctx;
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
  if (state.random() < faults.resetBeforeRate) return void destroy('reset-before');
  if (faults.latencyMs > 0 || faults.latencyJitterMs > 0) {
    await clock.sleep(faults.latencyMs + state.random() * faults.latencyJitterMs);
  }
  const account = state.byKey(headerValue(req.headers['api-token']));
  if (!account) {
    return void reply(
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
    return void reply(429, { message: 'Too Many Requests' }, 'throttled', {
      'Retry-After': retryAfter(state, Math.max(1, Math.ceil(waitMs / 1000)), arrival),
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
  if (await answeredByFault(ctx, scripted, arrival, reply, destroy)) return undefined;
  const resetAfter = scripted?.type === 'reset-after' || state.random() < faults.resetAfterRate;
  const ok = (payload: unknown) =>
    resetAfter ? destroy('reset-after') : reply(200, payload, 'ok', rateHeaders);
  return { account, entry, arrival, reply, ok };
}

/** Applies a scripted fault, or a random 429 / 503; true when it answered the request. */
async function answeredByFault(
  ctx: SandboxContext,
  scripted: ScriptedFault | undefined,
  arrival: number,
  reply: Admitted['reply'],
  destroy: (outcome: string) => void,
): Promise<boolean> {
  const { clock, state } = ctx;
  const faults = state.faults;
  if (scripted?.type === 'reset-before') {
    destroy('reset-before');
    return true;
  }
  if (scripted?.type === 'delay') await clock.sleep(scripted.ms);
  if (scripted?.type === 'throttle') {
    state.counters.injected429++;
    reply(429, { message: 'Too Many Requests' }, 'injected-429', {
      'Retry-After': retryAfter(
        state,
        scripted.retryAfterSeconds ?? faults.injectedRetryAfterSeconds,
        arrival,
      ),
    });
    return true;
  }
  if (scripted?.type === 'unavailable' || scripted?.type === 'server-error') {
    state.counters.injected503++;
    const status = scripted.type === 'unavailable' ? 503 : (scripted.status ?? 500);
    reply(status, '<html><body>Service error</body></html>', `injected-${status}`);
    return true;
  }
  if (state.random() < faults.rate429) {
    state.counters.injected429++;
    reply(429, { message: 'Too Many Requests' }, 'injected-429', {
      'Retry-After': retryAfter(state, faults.injectedRetryAfterSeconds, arrival),
    });
    return true;
  }
  if (state.random() < faults.rate503) {
    state.counters.injected503++;
    reply(503, '<html><body>503 Service Temporarily Unavailable</body></html>', 'injected-503');
    return true;
  }
  return false;
}

/** Retry-After in the configured format: seconds, or an HTTP date. */
function retryAfter(state: SandboxState, seconds: number, now: number): string {
  if (state.faults.retryAfterFormat === 'seconds') return String(seconds);
  // An HTTP-date has one-second resolution: round up so "retry at" is never earlier than meant.
  return new Date(Math.ceil((now + seconds * 1000) / 1000) * 1000).toUTCString();
}
