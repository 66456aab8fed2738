import { randomUUID } from 'node:crypto';

import { TableClient } from '@azure/data-tables';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

import { TableRecordStore } from '../../../../shared/adapters/tables/tableRecordStore';
import type { AppError } from '../../../../shared/errors';
import { ConflictError, NotFoundError, PreconditionFailedError } from '../../../../shared/errors';
import { azuriteConnectionString } from '../../../helpers/azurite';

const Thing = z.strictObject({ id: z.string().min(1), label: z.string(), big: z.string().optional() });
type Thing = z.infer<typeof Thing>;

function freshTable(): { client: TableClient; store: TableRecordStore<Thing> } {
  const client = TableClient.fromConnectionString(
    azuriteConnectionString(),
    `Things${randomUUID().replace(/-/g, '').slice(0, 12)}`,
    { allowInsecureConnection: true },
  );
  return { client, store: new TableRecordStore({ client, schema: Thing, kind: 'thing' }) };
}

describe('TableRecordStore', () => {
  it('creates the table on first use and reads back what it stored, with an ETag', async () => {
    const { store } = freshTable();
    const created = await store.create({ id: 'a', label: 'first' });
    expect(created.etag).toMatch(/\S/);
    const read = await store.get('a');
    expect(read).toEqual(created);
    expect(await store.find('missing')).toBeUndefined();
    await expect(store.get('missing')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('refuses a second record with the same id with a ConflictError', async () => {
    const { store } = freshTable();
    await store.create({ id: 'a', label: 'first' });
    const error = await store.create({ id: 'a', label: 'again' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as ConflictError).status).toBe(409);
    expect((await store.get('a')).record.label).toBe('first');
  });

  it('replaces with the current ETag and answers 412 with a stale one', async () => {
    const { store } = freshTable();
    const v1 = await store.create({ id: 'a', label: 'v1' });
    const v2 = await store.replace({ id: 'a', label: 'v2' }, v1.etag);
    expect(v2.etag).not.toBe(v1.etag);
    const stale = await store.replace({ id: 'a', label: 'v3' }, v1.etag).catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(PreconditionFailedError);
    expect((stale as AppError).status).toBe(412);
    expect((await store.get('a')).record.label).toBe('v2');
    // Without ifMatch the write is unconditional.
    await store.replace({ id: 'a', label: 'v4' });
    expect((await store.get('a')).record.label).toBe('v4');
  });

  it('answers NotFoundError when replacing or deleting a record that does not exist', async () => {
    const { store } = freshTable();
    await expect(store.replace({ id: 'nope', label: 'x' })).rejects.toBeInstanceOf(NotFoundError);
    await expect(store.delete('nope')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('deletes only with a matching ETag when one is given', async () => {
    const { store } = freshTable();
    const v1 = await store.create({ id: 'a', label: 'v1' });
    await store.replace({ id: 'a', label: 'v2' });
    await expect(store.delete('a', v1.etag)).rejects.toBeInstanceOf(PreconditionFailedError);
    const current = await store.get('a');
    await store.delete('a', current.etag);
    expect(await store.find('a')).toBeUndefined();
  });

  it('stores ids with characters Table keys refuse (slash, hash, question mark, backslash)', async () => {
    const { store } = freshTable();
    const id = 'a/b#c?d\\e ü';
    await store.create({ id, label: 'odd' });
    expect((await store.get(id)).record.id).toBe(id);
  });

  it('pages through records with an opaque continuation and lists them all', async () => {
    const { store } = freshTable();
    for (let i = 0; i < 5; i++) await store.create({ id: `r${i}`, label: String(i) });
    const first = await store.list({ limit: 2 });
    expect(first.items.map((s) => s.record.id)).toEqual(['r0', 'r1']);
    expect(first.next).toEqual(expect.any(String));
    const second = await store.list({ limit: 2, continuation: first.next });
    expect(second.items.map((s) => s.record.id)).toEqual(['r2', 'r3']);
    const third = await store.list({ limit: 2, continuation: second.next });
    expect(third.items.map((s) => s.record.id)).toEqual(['r4']);
    expect(third.next).toBeNull();
    const all: string[] = [];
    for await (const stored of store.all()) all.push(stored.record.id);
    expect(all).toEqual(['r0', 'r1', 'r2', 'r3', 'r4']);
  });

  it('keeps records larger than one Table string property in several chunks', async () => {
    const { store } = freshTable();
    const big = 'x'.repeat(70_000);
    await store.create({ id: 'big', label: 'b', big });
    expect((await store.get('big')).record.big).toBe(big);
  });

  it('refuses to store a record that does not match its schema', async () => {
    const { store } = freshTable();
    await expect(store.create({ id: 'a', label: 1 } as unknown as Thing)).rejects.toMatchObject({
      code: 'record_invalid',
    });
  });

  it('fails loudly, naming the row, when a stored row does not match the schema', async () => {
    const { client, store } = freshTable();
    await store.ensureTable();
    await client.createEntity({
      partitionKey: 'record',
      rowKey: 'bad',
      chunks: 1,
      json0: JSON.stringify({ id: 'bad', label: 5 }),
    });
    await expect(store.get('bad')).rejects.toThrow(/stored thing row "bad" does not match/);
  });
});
