/**
 * The record store's contract: one Azure Table per kind of record (connections, exports, runs), each row a
 * zod-checked record with an ETag for optimistic concurrency. Implemented over `@azure/data-tables`
 * (tableRecordStore.ts); this file holds only the shapes every caller codes against.
 */

/** A record as stored, with the ETag a later change must present (`If-Match`). */
export interface Stored<T> {
  record: T;
  etag: string;
}

/** One page of a listing; `next` is an opaque continuation, or null on the last page. */
export interface Page<T> {
  items: Stored<T>[];
  next: string | null;
}

/** One table of records of one kind, keyed by `record.id`. */
export interface RecordTable<T extends { id: string }> {
  /** The record with this id; throws `NotFoundError` when there is none. */
  get(id: string): Promise<Stored<T>>;
  /** The record with this id, or undefined. */
  find(id: string): Promise<Stored<T> | undefined>;
  /** One page of records (ordered by id), at most `limit` (default 100). */
  list(options?: { continuation?: string | null; limit?: number }): Promise<Page<T>>;
  /** Every record, page by page. */
  all(): AsyncIterable<Stored<T>>;
  /** Stores a new record; throws `ConflictError` (409) when its id is taken. */
  create(record: T): Promise<Stored<T>>;
  /**
   * Replaces a record. With `ifMatch`, throws `PreconditionFailedError` (412) when the stored ETag differs;
   * without it, the write is unconditional. Throws `NotFoundError` when the record does not exist.
   */
  replace(record: T, ifMatch?: string): Promise<Stored<T>>;
  /** Deletes a record (412 on an ETag mismatch with `ifMatch`); throws `NotFoundError` when absent. */
  delete(id: string, ifMatch?: string): Promise<void>;
}
