import type { TableClient } from '@azure/data-tables';
import { describe, expect, it } from 'vitest';

import {
  ActiveCampaignClient,
  BudgetSlotMissedError,
  type Clock,
  MAX_MISSED_SLOTS,
  type RateBudget,
  TableRateBudget,
} from '../../../../shared/adapters/activecampaign';

/**
 * A clock that jumps forward on every read, by `stepMs` growing `growth`× per read: storage round trips that
 * keep getting slower than the budget's moving estimate of them (a stalled host or throttled storage).
 */
function jumpingClock(stepMs: number, growth = 1): Clock {
  let now = 1_000_000;
  let step = stepMs;
  return {
    now: () => {
      now += step;
      step *= growth;
      return now;
    },
    sleep: (ms) => {
      now += ms;
      return Promise.resolve();
    },
  };
}

/** An in-memory stand-in for one Azure Table, enough for TableRateBudget's read-modify-write. */
function memoryTable(): TableClient & { writes: number } {
  const rows = new Map<string, Record<string, unknown>>();
  let etag = 0;
  const table = {
    writes: 0,
    createTable: () => Promise.resolve(),
    getEntity: (pk: string, rk: string) => {
      const row = rows.get(`${pk}/${rk}`);
      return row
        ? Promise.resolve({ ...row })
        : Promise.reject(Object.assign(new Error('nf'), { statusCode: 404 }));
    },
    createEntity: (row: { partitionKey: string; rowKey: string }) => {
      table.writes++;
      rows.set(`${row.partitionKey}/${row.rowKey}`, { ...row, etag: String(++etag) });
      return Promise.resolve({});
    },
    updateEntity: (row: { partitionKey: string; rowKey: string }) => {
      table.writes++;
      rows.set(`${row.partitionKey}/${row.rowKey}`, { ...row, etag: String(++etag) });
      return Promise.resolve({});
    },
  };
  return table as unknown as TableClient & { writes: number };
}

describe('TableRateBudget', () => {
  it('throws a retryable BudgetSlotMissedError instead of sending late when every reservation is missed', async () => {
    const table = memoryTable();
    // Round trips grow 2× per clock read: every slot is gone by the time its reservation returns.
    const budget = new TableRateBudget(table, 'acme.api-us1.com', jumpingClock(1_000, 2));

    const error = await budget.acquire('request').catch((e: unknown) => e);

    expect(error).toBeInstanceOf(BudgetSlotMissedError);
    expect((error as BudgetSlotMissedError).retryable).toBe(true);
    expect(table.writes).toBe(MAX_MISSED_SLOTS);
  });

  it('returns at its slot when storage answers in time', async () => {
    const table = memoryTable();
    const budget = new TableRateBudget(table, 'acme.api-us1.com', jumpingClock(1));
    await expect(budget.acquire('request')).resolves.toBeUndefined();
    expect(table.writes).toBe(1);
  });
});

describe('ActiveCampaignClient with a budget that missed its slots', () => {
  it('backs off and asks the budget again, then sends once, when acquire throws BudgetSlotMissedError', async () => {
    let acquires = 0;
    const budget: RateBudget = {
      acquire: () =>
        ++acquires === 1
          ? Promise.reject(new BudgetSlotMissedError('request', MAX_MISSED_SLOTS, 300))
          : Promise.resolve(),
      pause: () => Promise.resolve(),
    };
    let sent = 0;
    const client = new ActiveCampaignClient({
      host: 'acme.api-us1.com',
      apiKey: 'key-0123456789',
      hostRule: { allowedSuffixes: ['.api-us1.com'], allowLoopbackHttp: false },
      clock: jumpingClock(1),
      budget,
      random: () => 0.5,
      fetch: () => {
        sent++;
        return Promise.resolve(new Response(JSON.stringify({ user: { id: 1 } }), { status: 200 }));
      },
    });

    await expect(client.verifyCredentials()).resolves.toMatchObject({ id: '1' });
    expect(acquires).toBe(2);
    expect(sent).toBe(1);
  });
});
