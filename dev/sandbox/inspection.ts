/**
 * The inspection API under `/__sandbox/`: state, contacts, batches and the request log (never an API key),
 * and reset, faults (random or scripted) and seeding contacts.
 */
import type http from 'node:http';

import type { SandboxContext } from './settings';
import type { SandboxFaults, ScriptedFault } from './state';
import { parseJson, send } from './wire';

/** Answers one inspection request. */
export function inspect(
  ctx: SandboxContext,
  method: string,
  url: URL,
  body: string,
  res: http.ServerResponse,
): void {
  const { clock, state } = ctx;
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
