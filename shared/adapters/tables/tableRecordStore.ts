/**
 * `RecordTable<T>` over Azure Table Storage (`@azure/data-tables`; Azurite locally, identity-based in Azure).
 *
 * Each record is one entity: partition key `record`, row key the URI-encoded id (Table keys may not hold
 * `/ \ # ?` or control characters), and the record as JSON in `json0`, `json1`, … (a string property holds
 * at most 64 KiB, i.e. 32,768 UTF-16 characters; an entity at most 1 MiB:
 * https://learn.microsoft.com/rest/api/storageservices/understanding-the-table-service-data-model).
 * Every read is parsed with the record's zod schema, so a hand-edited or stale row fails loudly.
 * Concurrency is the service's own: every write returns the entity's new ETag, and a write or delete given
 * `ifMatch` is conditional on it (412 when someone else changed the row first).
 */
import { type TableClient, type TableEntityResult } from '@azure/data-tables';
import type { z } from 'zod';

import { ConnectionRecord } from '../../domain/records/connection';
import { ExportRecord } from '../../domain/records/exportDefinition';
import { AppError, ConflictError, NotFoundError, PreconditionFailedError, statusCodeOf } from '../../errors';
import { hostTableClient } from '../storageClients';
import type { Page, RecordTable, Stored } from './recordTable';

const PARTITION = 'record';
/** Characters per JSON chunk property: below the 32,768-character limit of a string property. */
const CHUNK_CHARS = 30_000;
/** At most this many chunks (~900,000 characters): stays under the 1 MiB entity limit with room to spare. */
const MAX_CHUNKS = 15;

type RecordEntity = Record<string, unknown> & { partitionKey: string; rowKey: string };

/** Options of a `TableRecordStore`. */
export interface TableRecordStoreOptions<T> {
  /** The table, e.g. from `hostTableClient(config, 'Exports')`. */
  client: TableClient;
  /** The record's zod schema: the single source of its shape, applied to every row read and written. */
  schema: z.ZodType<T>;
  /** A word for messages, e.g. `connection`. */
  kind: string;
}

/** The Table row key of a record id. */
export function toRowKey(id: string): string {
  return encodeURIComponent(id);
}

/** The entity that stores `record` (JSON in chunk properties). */
export function toRecordEntity(record: { id: string }, kind: string): RecordEntity {
  const json = JSON.stringify(record);
  const chunks = Math.max(1, Math.ceil(json.length / CHUNK_CHARS));
  if (chunks > MAX_CHUNKS) {
    throw new AppError(
      `The ${kind} record "${record.id}" is too large to store (${json.length} characters)`,
      {
        code: 'record_too_large',
        status: 413,
      },
    );
  }
  const entity: RecordEntity = {
    partitionKey: PARTITION,
    rowKey: toRowKey(record.id),
    id: record.id,
    chunks,
  };
  for (let i = 0; i < chunks; i++) entity[`json${i}`] = json.slice(i * CHUNK_CHARS, (i + 1) * CHUNK_CHARS);
  return entity;
}

/** The record stored in `entity`, checked against `schema`; a row that does not parse is a 500, named. */
export function fromRecordEntity<T>(entity: Record<string, unknown>, schema: z.ZodType<T>, kind: string): T {
  const chunks = typeof entity.chunks === 'number' ? entity.chunks : 0;
  let json = '';
  for (let i = 0; i < chunks; i++) {
    const part = entity[`json${i}`];
    if (typeof part !== 'string') json = '';
    else json += part;
  }
  const rowKey = String(entity.rowKey);
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (error) {
    throw new AppError(`The stored ${kind} row "${rowKey}" holds no readable record`, {
      code: 'record_invalid',
      cause: error,
    });
  }
  const result = schema.safeParse(parsed);
  if (!result.success) {
    throw new AppError(
      `The stored ${kind} row "${rowKey}" does not match the ${kind} schema: ${result.error.issues
        .map((i) => `${i.path.join('.') || '(record)'}: ${i.message}`)
        .join('; ')}`,
      { code: 'record_invalid', cause: result.error },
    );
  }
  return result.data;
}

/** A `RecordTable` for any zod record schema over one Azure Table; the table is created on first use. */
export class TableRecordStore<T extends { id: string }> implements RecordTable<T> {
  private readonly client: TableClient;
  private readonly schema: z.ZodType<T>;
  private readonly kind: string;
  private ready: Promise<void> | undefined;

  constructor(options: TableRecordStoreOptions<T>) {
    this.client = options.client;
    this.schema = options.schema;
    this.kind = options.kind;
  }

  /** Creates the table if it does not exist (once per instance; retried after a failure). */
  ensureTable(): Promise<void> {
    this.ready ??= this.client.createTable().then(
      () => undefined,
      (error: unknown) => {
        // 409 TableAlreadyExists: another instance made it first.
        if (statusCodeOf(error) === 409) return;
        this.ready = undefined;
        throw error;
      },
    );
    return this.ready;
  }

  /** The record with this id; throws `NotFoundError` when there is none. */
  async get(id: string): Promise<Stored<T>> {
    const found = await this.find(id);
    if (!found) throw new NotFoundError(`No ${this.kind} with id "${id}"`);
    return found;
  }

  /** The record with this id, or undefined. */
  async find(id: string): Promise<Stored<T> | undefined> {
    await this.ensureTable();
    let entity: TableEntityResult<Record<string, unknown>>;
    try {
      entity = await this.client.getEntity(PARTITION, toRowKey(id));
    } catch (error) {
      if (statusCodeOf(error) === 404) return undefined;
      throw error;
    }
    return this.toStored(entity);
  }

  /** One page of records (ordered by row key), at most `limit` (default 100, at most 1000). */
  async list(options: { continuation?: string | null; limit?: number } = {}): Promise<Page<T>> {
    await this.ensureTable();
    const limit = Math.min(Math.max(Math.trunc(options.limit ?? 100), 1), 1000);
    const pages = this.client
      .listEntities<Record<string, unknown>>({ queryOptions: { filter: `PartitionKey eq '${PARTITION}'` } })
      .byPage({
        maxPageSize: limit,
        ...(options.continuation ? { continuationToken: options.continuation } : {}),
      });
    let page;
    try {
      page = (await pages.next()).value as
        (TableEntityResult<Record<string, unknown>>[] & { continuationToken?: string }) | undefined;
    } catch (error) {
      // A continuation token that is not one of ours (tampered, or from another table).
      if (options.continuation && (statusCodeOf(error) === 400 || error instanceof SyntaxError)) {
        throw new AppError('The continuation token is not valid', { code: 'validation_failed', status: 400 });
      }
      throw error;
    }
    const items = (page ?? []).map((entity) => this.toStored(entity));
    return { items, next: page?.continuationToken ?? null };
  }

  /** Every record, page by page. */
  async *all(): AsyncIterable<Stored<T>> {
    let continuation: string | null = null;
    do {
      const page: Page<T> = await this.list({ continuation, limit: 1000 });
      yield* page.items;
      continuation = page.next;
    } while (continuation);
  }

  /** Stores a new record; throws `ConflictError` (409) when its id is taken. */
  async create(record: T): Promise<Stored<T>> {
    const checked = this.check(record);
    await this.ensureTable();
    try {
      const response = await this.client.createEntity(toRecordEntity(checked, this.kind));
      return { record: checked, etag: requireEtag(response.etag) };
    } catch (error) {
      if (statusCodeOf(error) === 409) {
        throw new ConflictError(`A ${this.kind} with id "${record.id}" already exists`, error);
      }
      throw error;
    }
  }

  /** Replaces a record, conditionally on `ifMatch` when given (412 on a mismatch); 404 when absent. */
  async replace(record: T, ifMatch?: string): Promise<Stored<T>> {
    const checked = this.check(record);
    await this.ensureTable();
    try {
      const response = await this.client.updateEntity(toRecordEntity(checked, this.kind), 'Replace', {
        etag: ifMatch ?? '*',
      });
      return { record: checked, etag: requireEtag(response.etag) };
    } catch (error) {
      throw this.writeError(error, record.id);
    }
  }

  /** Deletes a record, conditionally on `ifMatch` when given (412 on a mismatch); 404 when absent. */
  async delete(id: string, ifMatch?: string): Promise<void> {
    await this.ensureTable();
    try {
      await this.client.deleteEntity(PARTITION, toRowKey(id), { etag: ifMatch ?? '*' });
    } catch (error) {
      throw this.writeError(error, id);
    }
  }

  private check(record: T): T {
    const result = this.schema.safeParse(record);
    if (result.success) return result.data;
    throw new AppError(
      `Refusing to store an invalid ${this.kind} record: ${result.error.issues
        .map((i) => `${i.path.join('.') || '(record)'}: ${i.message}`)
        .join('; ')}`,
      { code: 'record_invalid', cause: result.error },
    );
  }

  private toStored(entity: TableEntityResult<Record<string, unknown>>): Stored<T> {
    return { record: fromRecordEntity(entity, this.schema, this.kind), etag: requireEtag(entity.etag) };
  }

  private writeError(error: unknown, id: string): unknown {
    const status = statusCodeOf(error);
    if (status === 404) return new NotFoundError(`No ${this.kind} with id "${id}"`, error);
    if (status === 412) {
      return new PreconditionFailedError(
        `The ${this.kind} "${id}" was changed since it was read (ETag mismatch); read it again and retry`,
        error,
      );
    }
    return error;
  }
}

function requireEtag(etag: string | undefined): string {
  if (!etag) throw new AppError('Table storage answered without an ETag', { code: 'storage_unexpected' });
  return etag;
}

/** The app's records: connections and exports, each in its own table. */
export interface RecordStore {
  connections: RecordTable<ConnectionRecord>;
  exports: RecordTable<ExportRecord>;
}

/** Table names of the record store. */
export const RECORD_TABLES = { connections: 'Connections', exports: 'Exports', runs: 'Runs' } as const;

/**
 * The table of one kind of record. Tables are named after the task hub (`<hub>Connections`), as the
 * Durable backend names its own, so two deployments (or test runs) sharing an account never share records.
 */
export function recordTableName(hub: string | undefined, kind: keyof typeof RECORD_TABLES): string {
  return `${hub ?? 'SegmentExport'}${RECORD_TABLES[kind]}`;
}

/** The record store over the host's storage account (`AzureWebJobsStorage`). */
export function createRecordStore(
  config: Parameters<typeof hostTableClient>[0] & { DURABLE_TASK_HUB_NAME?: string },
): RecordStore {
  const hub = config.DURABLE_TASK_HUB_NAME;
  return {
    connections: new TableRecordStore({
      client: hostTableClient(config, recordTableName(hub, 'connections')),
      schema: ConnectionRecord,
      kind: 'connection',
    }),
    exports: new TableRecordStore({
      client: hostTableClient(config, recordTableName(hub, 'exports')),
      schema: ExportRecord,
      kind: 'export',
    }),
  };
}
