import { describe, expect, it } from 'vitest';

import {
  ActiveCampaignClient,
  ActiveCampaignNotFoundError,
  type BulkImportAccepted,
  type BulkImportRequest,
  type Clock,
  importContacts,
  type ImportInfo,
  reconcileBatches,
  ServerError,
  type SubmittedBatch,
} from '../../../../shared/adapters/activecampaign';

/** A clock that advances instantly when slept on. */
function fakeClock(): Clock {
  let now = 1_000_000;
  return {
    now: () => now,
    sleep: (ms) => {
      now += ms;
      return Promise.resolve();
    },
  };
}

const request = (...emails: string[]): BulkImportRequest => ({
  contacts: emails.map((email) => ({ email })),
});

/** A client whose import/info answers and bulk imports are scripted per batch id. */
function stubClient(
  info: (batchId: string) => ImportInfo,
  bulkImport: (request: BulkImportRequest) => BulkImportAccepted = () => {
    throw new Error('unexpected bulk import');
  },
): ActiveCampaignClient {
  return {
    getImportInfo: (batchId: string) => Promise.resolve().then(() => info(batchId)),
    bulkImport: (r: BulkImportRequest) => Promise.resolve().then(() => bulkImport(r)),
  } as unknown as ActiveCampaignClient;
}

const batches: SubmittedBatch[] = [
  { batchId: 'A', request: request('a1@example.com', 'a2@example.com') },
  { batchId: 'B', request: request('b1@example.com', 'b2@example.com') },
];

describe('reconcileBatches', () => {
  it('keeps batch A confirmed and makes only batch B unconfirmed when B fails and its resubmission runs out of retries', async () => {
    const client = stubClient(
      (id) =>
        id === 'A'
          ? { status: 'completed', success: ['1', '2'], failure: [] }
          : { status: 'failed', success: [], failure: [] },
      () => {
        throw new ServerError(
          { method: 'POST', path: '/api/3/import/bulk_import', attempt: 6 },
          { status: 503, body: 'down', retryAfterMs: undefined },
        );
      },
    );

    const result = await reconcileBatches(client, batches, { clock: fakeClock() });

    expect(result.outcomes).toHaveLength(4);
    expect(result.outcomes.filter((o) => o.status === 'confirmed').map((o) => o.email)).toEqual([
      'a1@example.com',
      'a2@example.com',
    ]);
    const b = result.outcomes.filter((o) => o.email.startsWith('b'));
    expect(b.map((o) => o.status)).toEqual(['unconfirmed', 'unconfirmed']);
    expect(b[0]?.reason).toMatch(/batch failed; its resubmission failed: .*503/);
  });

  it('keeps batch A confirmed and makes only batch B unconfirmed when import/info answers 404 for B', async () => {
    const client = stubClient((id) => {
      if (id === 'A') return { status: 'completed', success: ['1', '2'], failure: [] };
      throw new ActiveCampaignNotFoundError(
        { method: 'GET', path: `/api/3/import/info?batchId=${id}`, attempt: 1 },
        { status: 404, body: { message: 'No Result found' }, retryAfterMs: undefined },
      );
    });

    const result = await reconcileBatches(client, batches, { clock: fakeClock() });

    expect(result.outcomes.filter((o) => o.status === 'confirmed')).toHaveLength(2);
    const b = result.outcomes.filter((o) => o.email.startsWith('b'));
    expect(b.map((o) => o.status)).toEqual(['unconfirmed', 'unconfirmed']);
    expect(b[0]?.reason).toMatch(/import\/info for batch B failed: .*404|not found/i);
  });

  it('waits on an undocumented status until the deadline, then makes only that batch unconfirmed', async () => {
    let looks = 0;
    const client = stubClient((id) => {
      if (id === 'A') return { status: 'completed', success: ['1', '2'], failure: [] };
      looks++;
      return { status: 'paused_for_review' };
    });

    const result = await reconcileBatches(client, batches, { clock: fakeClock(), deadlineMs: 60_000 });

    expect(looks).toBeGreaterThan(2);
    expect(result.outcomes.filter((o) => o.status === 'confirmed')).toHaveLength(2);
    const b = result.outcomes.filter((o) => o.email.startsWith('b'));
    expect(b.map((o) => o.status)).toEqual(['unconfirmed', 'unconfirmed']);
    expect(b[0]?.reason).toContain('undocumented status "paused_for_review"');
    expect(b[0]?.reason).toContain('deadline');
  });

  it('makes only batch B unconfirmed (counts disagree) when its import/info lists fewer contacts than were sent', async () => {
    const client = stubClient((id) =>
      id === 'A'
        ? { status: 'completed', success: ['1', '2'], failure: [] }
        : { status: 'completed', success: ['3'], failure: [] },
    );

    const result = await reconcileBatches(client, batches, { clock: fakeClock() });

    expect(result.outcomes.filter((o) => o.status === 'confirmed')).toHaveLength(2);
    const b = result.outcomes.filter((o) => o.email.startsWith('b'));
    expect(b.map((o) => o.status)).toEqual(['unconfirmed', 'unconfirmed']);
    expect(b[0]?.reason).toContain('counts disagree');
  });

  it('completes a batch that reported an undocumented status before finishing', async () => {
    let looks = 0;
    const client = stubClient(() =>
      ++looks < 3
        ? { status: 'paused_for_review' }
        : { status: 'completed', success: ['1', '2'], failure: [] },
    );
    const result = await reconcileBatches(client, [batches[0]!], { clock: fakeClock() });
    expect(result.outcomes.map((o) => o.status)).toEqual(['confirmed', 'confirmed']);
  });
});

describe('importContacts', () => {
  it('reports contacts unconfirmed, not rejected, when bulk import answers 200 with an unexpected body', async () => {
    const client = new ActiveCampaignClient({
      host: 'acme.api-us1.com',
      apiKey: 'key-0123456789',
      hostRule: { allowedSuffixes: ['.api-us1.com'], allowLoopbackHttp: false },
      clock: fakeClock(),
      budget: { acquire: () => Promise.resolve(), pause: () => Promise.resolve() },
      fetch: () => Promise.resolve(new Response(JSON.stringify({ queued: 'yes' }), { status: 200 })),
    });

    const result = await importContacts(client, [{ email: 'a@example.com' }, { email: 'b@example.com' }], {
      clock: fakeClock(),
    });

    expect(result.outcomes.map((o) => o.status)).toEqual(['unconfirmed', 'unconfirmed']);
    expect(result.outcomes[0]?.reason).toContain('may have queued');
  });

  it('still reports contacts rejected when bulk import answers 400 with failureReasons', async () => {
    const client = new ActiveCampaignClient({
      host: 'acme.api-us1.com',
      apiKey: 'key-0123456789',
      hostRule: { allowedSuffixes: ['.api-us1.com'], allowLoopbackHttp: false },
      clock: fakeClock(),
      budget: { acquire: () => Promise.resolve(), pause: () => Promise.resolve() },
      fetch: () =>
        Promise.resolve(
          new Response(JSON.stringify({ success: 0, message: 'bad', failureReasons: ['no'] }), {
            status: 400,
          }),
        ),
    });
    const result = await importContacts(client, [{ email: 'a@example.com' }, { email: 'b@example.com' }], {
      clock: fakeClock(),
    });
    expect(result.outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
  });

  it('sends the first bulk import before the rest of the input is checked when the input spans many requests', async () => {
    const read = new Set<number>();
    const contacts = Array.from({ length: 1_000 }, (_, i) => ({
      get email() {
        read.add(i);
        return `c${i}@example.com`;
      },
    }));
    let readAtFirstImport = -1;
    let batch = 0;
    const client = stubClient(
      () => ({ status: 'completed' }),
      () => {
        if (readAtFirstImport < 0) readAtFirstImport = read.size;
        return { success: 1, queued_contacts: 250, batchId: `batch-${++batch}` };
      },
    );

    const result = await importContacts(client, contacts, { clock: fakeClock(), concurrency: 1 });

    // The first request's 250 contacts and the one that ended it were read; the other 749 not yet.
    expect(readAtFirstImport).toBe(251);
    expect(result.outcomes.filter((o) => o.status === 'confirmed')).toHaveLength(1_000);
  });

  it('rejects a contact too large for any bulk import with its size and still sends the others', async () => {
    const huge = { email: 'huge@example.com', first_name: 'x'.repeat(400_000) };
    const sent: string[] = [];
    const client = stubClient(
      () => ({ status: 'completed' }),
      (r) => {
        sent.push(...r.contacts.map((c) => c.email));
        return { success: 1, queued_contacts: r.contacts.length, batchId: 'A' };
      },
    );

    const result = await importContacts(
      client,
      [{ email: 'a@example.com' }, huge, { email: 'b@example.com' }],
      {
        clock: fakeClock(),
      },
    );

    expect(sent).toEqual(['a@example.com', 'b@example.com']);
    expect(result.outcomes[0]).toEqual({
      email: 'huge@example.com',
      status: 'rejected',
      reason: expect.stringMatching(
        /^contact is 40\d{4} bytes as JSON; a bulk import may carry at most 399999 bytes$/,
      ) as string,
    });
    expect(result.outcomes.slice(1).map((o) => [o.email, o.status])).toEqual([
      ['a@example.com', 'confirmed'],
      ['b@example.com', 'confirmed'],
    ]);
  });

  it('looks at a pending batch again at the quickest completion seen when that comes before its next step', async () => {
    const clock = virtualClock();
    const processingMs = 4_000;
    const answerMs = 20;
    const acceptedAt = new Map<string, number>();
    const completions: [batchId: string, age: number][] = [];
    let batch = 0;
    const client = {
      bulkImport: async () => {
        await clock.sleep(600); // one bulk slot each
        const batchId = `batch-${++batch}`;
        acceptedAt.set(batchId, clock.now());
        return { success: 1, queued_contacts: 250, batchId };
      },
      getImportInfo: async (batchId: string): Promise<ImportInfo> => {
        const age = clock.now() - acceptedAt.get(batchId)!;
        await clock.sleep(answerMs);
        if (age < processingMs) return { status: 'active' };
        completions.push([batchId, age]);
        return { status: 'completed' };
      },
    } as unknown as ActiveCampaignClient;
    const contacts = Array.from({ length: 5_000 }, (_, i) => ({ email: `c${i}@example.com` }));

    const result = await clock.run(() => importContacts(client, contacts, { clock, concurrency: 1 }));

    expect(result.outcomes.filter((o) => o.status === 'confirmed')).toHaveLength(5_000);
    expect(completions).toHaveLength(20);
    // Every batch after the first is found done no later than the quickest completion seen before it (plus
    // the answer's own time): its 10% steps never carry a look past that age.
    let quickest = completions[0]![1];
    for (const [batchId, age] of completions.slice(1)) {
      expect(age, batchId).toBeLessThanOrEqual(quickest + answerMs);
      quickest = Math.min(quickest, age);
    }
  });
});

/**
 * Virtual time: `sleep` resolves when the clock reaches its end; `run` advances the clock to the next timer
 * whenever everything else has had its turn, until the work settles.
 */
function virtualClock(): Clock & { run<T>(work: () => Promise<T>): Promise<T> } {
  let now = 1_000_000;
  const timers: { at: number; resolve: () => void }[] = [];
  const idle = async () => {
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  };
  return {
    now: () => now,
    sleep: (ms, signal) =>
      new Promise<void>((resolve, reject) => {
        const timer = { at: now + Math.max(0, ms), resolve };
        timers.push(timer);
        signal?.addEventListener('abort', () => {
          const index = timers.indexOf(timer);
          if (index >= 0) timers.splice(index, 1);
          reject(signal.reason as Error);
        });
      }),
    async run(work) {
      let settled = false;
      const done = work().finally(() => (settled = true));
      while (!settled) {
        await idle();
        timers.sort((a, b) => a.at - b.at);
        const next = timers.shift();
        if (!next) continue;
        now = Math.max(now, next.at);
        next.resolve();
      }
      return done;
    },
  };
}
