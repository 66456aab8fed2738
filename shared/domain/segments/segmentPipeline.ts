/**
 * The stateful heart of Prepare: every row of every partition, prepared by a `RowPreparer` (normalised,
 * validated, hashed, looked up, encoded; possibly on another thread), is accepted here in the export's
 * order (segments as listed, partitions by name, rows in order) and ends either packed for ActiveCampaign
 * or rejected with a reason. State per contact is compact: a 64-bit email hash index, the target snapshot
 * (16 bytes + email) and where each email was first seen (6 bytes).
 * Kept at ~420 lines on purpose: it is one class whose `acceptBatch` hot loop reads and writes all of that
 * state per row; cutting the class apart would put that state behind calls on every row.
 */
import { TextDecoder } from 'node:util';

import { LimitExceededError } from '../../errors';
import { toBulkUnsubscribe } from './contact';
import { HashIndex } from './emailHashSet';
import type { ColumnIndexes, ExportMapping } from './exportMapping';
import * as rowLayout from './preparedRowLayout';
import type { RejectedRow, RejectReason } from './rejectedRows';
import { type PackedSlice, type PackingLimits, RequestPacker } from './requestPacker';
import type { RowBatch, RowNote } from './rowBatch';
import { RowBatchWriter } from './rowBatch';
import { COLLISION_DETAIL, RowPreparer } from './rowPreparer';
import type { Snapshot } from './snapshot';
import { grownTo, SnapshotBuilder } from './snapshotBuilder';

// Module-level copies of the layout's constant and accessors for the hot loops: see hash64.ts.
const {
  isRejectedRow,
  isUnchangedRow,
  ROW_INTS,
  rowContentHi,
  rowContentLo,
  rowEmailEnd,
  rowEmailHi,
  rowEmailLo,
  rowEmailStart,
  rowJsonEnd,
  rowJsonStart,
  rowLine,
  rowPrevious,
  rowRawEnd,
} = rowLayout;

const decoder = new TextDecoder();
/** The entry recorded for contacts past the profile cap (they are counted, not kept). */
const PAST_CAP = 0x7ffffffe;

/** `add`: add/update, never remove. `mirror`: also unsubscribe contacts that left every segment. */
export type MembershipMode = 'add' | 'mirror';

/** What the pipeline needs to know about the export and this run. */
export interface PipelineOptions {
  mapping: ExportMapping;
  listId: number;
  membership: MembershipMode;
  /** Send every current contact, not only new and changed ones. */
  fullResync: boolean;
  /** What ActiveCampaign confirmed last time (empty on the first run). */
  previous: Snapshot;
  /** Most unique valid profiles the export may hold (setting `EXPORT_PROFILE_CAP`). */
  profileCap: number;
  packing: PackingLimits;
}

/** Where the pipeline's output goes; both are called synchronously. */
export interface PipelineSink {
  slice(slice: PackedSlice): void;
  reject(row: RejectedRow): void;
}

/** Counts of one run's Prepare (no contact data). */
export interface PipelineCounts {
  rows: number;
  /** Unique valid contacts now in the selected segments. */
  contacts: number;
  rejected: number;
  rejectedByReason: Partial<Record<RejectReason, number>>;
  added: number;
  changed: number;
  unchanged: number;
  /** Contacts in the snapshot that are in no selected segment now. */
  removed: number;
  /** Contacts staged as add/update. */
  toUpsert: number;
  /** Contacts staged as unsubscribe (mirror mode only). */
  toUnsubscribe: number;
  requests: number;
  slices: number;
}

/** Runs map → normalise → validate → dedupe → diff → pack over a stream of records. */
export class SegmentPipeline {
  private readonly options: PipelineOptions;
  private readonly index: HashIndex;
  private readonly held = new HashIndex(1024);
  private readonly target: SnapshotBuilder;
  /**
   * Per previous-snapshot entry: 1 + the target entry that holds it (0: not seen this run). Emails the
   * previous snapshot knows are deduped here, so only new emails go through the hash index.
   */
  private readonly entryOfPrevious: Int32Array;
  /**
   * One bit per previous entry: seen this run. Read on every row instead of `entryOfPrevious` (125 KB per
   * million entries stays in cache; a random read of the 4 MB array is a cache miss per row). The array is
   * only written then, and read for duplicates and in `finish`.
   */
  private readonly seenPrevious: Int32Array;
  private readonly packer: RequestPacker;
  private readonly files: string[] = [];
  private firstFile: Uint16Array;
  private firstLine: Uint32Array;
  /** Per target entry: its index in the previous snapshot, or -1 (lets `finish` build the target without a full sort). */
  private previousAt: Int32Array;
  private file = '';
  private fileIndex = -1;
  /** Previous entries `stageDepartures` has dealt with. */
  private departuresDone = 0;
  /** For `accept`: rows prepared here, one at a time. */
  private inline: { preparer: RowPreparer; writer: RowBatchWriter } | undefined;
  private readonly counts: PipelineCounts = {
    rows: 0,
    contacts: 0,
    rejected: 0,
    rejectedByReason: {},
    added: 0,
    changed: 0,
    unchanged: 0,
    removed: 0,
    toUpsert: 0,
    toUnsubscribe: 0,
    requests: 0,
    slices: 0,
  };

  constructor(
    options: PipelineOptions,
    private readonly sink: PipelineSink,
  ) {
    this.options = { ...options, previous: options.previous.inHashOrder() };
    this.entryOfPrevious = new Int32Array(options.previous.count);
    this.seenPrevious = new Int32Array((options.previous.count >>> 5) + 1);
    const expected = Math.max(1024, options.previous.count + (options.previous.count >>> 4));
    this.firstFile = new Uint16Array(expected);
    this.firstLine = new Uint32Array(expected);
    this.previousAt = new Int32Array(expected);
    // Sized for last run's contacts up front: growing 1M entries by doubling copies them several times.
    // Known emails are not copied into the builder (`addKnown`), so its own bytes only hold new ones.
    this.target = new SnapshotBuilder(
      options.previous.count,
      options.previous.emailOffsets[options.previous.count]! >>> 3,
    );
    // Holds only emails the previous snapshot lacks (all of them on a first run); grows as needed.
    this.index = new HashIndex(1 << 16);
    this.packer = new RequestPacker(options.packing, (slice) => sink.slice(slice));
  }

  /** True once more unique valid contacts than the cap were seen (staging stops; counting goes on). */
  get capExceeded(): boolean {
    return this.counts.contacts > this.options.profileCap;
  }

  /** Starts a new file: rows accepted from now on are from `file`. */
  beginFile(file: string, columns?: ColumnIndexes): void {
    this.file = file;
    this.fileIndex = this.files.length;
    this.files.push(file);
    if (columns) this.inlinePreparer().preparer.begin(columns);
  }

  /**
   * Prepares and accepts one data record starting at physical line `line` of the current file (whose
   * columns `beginFile` was given). For callers with records in hand; Prepare itself prepares rows in
   * chunks (`prepareChunk`, maybe on worker threads) and hands them to `acceptBatch`.
   */
  accept(fields: readonly string[], line: number): void {
    const { preparer, writer } = this.inlinePreparer();
    preparer.prepare(fields, line, writer);
    this.acceptBatch(writer.take());
  }

  private inlinePreparer(): { preparer: RowPreparer; writer: RowBatchWriter } {
    const { mapping, listId, fullResync, packing, previous } = this.options;
    return (this.inline ??= {
      preparer: new RowPreparer({ mapping, listId, fullResync, packing }, previous),
      writer: new RowBatchWriter(),
    });
  }

  /**
   * Stops reading from `buffer` (an accepted batch's `json`): the open bulk request copies the contacts it
   * still needs from it, so the batch's memory can be reused at once.
   */
  release(buffer: ArrayBufferLike): void {
    this.packer.detach(buffer);
  }

  /** Accepts prepared rows of the current file, in order. */
  acceptBatch(batch: RowBatch): void {
    const { ints, bytes, notes } = batch;
    const packer = this.packer;
    let note = 0;
    for (let r = 0, end = batch.rows * ROW_INTS; r < end; r += ROW_INTS) {
      this.counts.rows++;
      const line = rowLine(ints, r);
      if (isRejectedRow(ints, r)) {
        this.rejectNoted(line, notes[note++]!);
        continue;
      }
      // Hash halves as the int32s they are stored as (the callees store and compare them as 32-bit words):
      // made unsigned, a half above 2³¹ would be a heap number passed to every call: garbage on this
      // thread for every such row.
      const hi = rowEmailHi(ints, r);
      const lo = rowEmailLo(ints, r);
      const at = rowPrevious(ints, r);
      // Past the cap the run will fail: contacts are still counted (for the message) but no longer kept
      // in the target snapshot, and reading stops at twice the cap, so memory stays bounded.
      const pastCap = this.counts.contacts >= this.options.profileCap;
      const entry = pastCap ? PAST_CAP : this.target.count;
      const first =
        at === -1
          ? this.index.setIfAbsent(hi, lo, entry)
          : (this.seenPrevious[at >>> 5]! & (1 << (at & 31))) === 0
            ? -1
            : this.entryOfPrevious[at]! - 1;
      if (first !== -1 && at === -1 && first !== PAST_CAP) {
        const start = rowEmailStart(ints, r);
        if (!this.target.emailEquals(first, bytes, start, rowEmailEnd(ints, r))) {
          // Not a duplicate: another address with the same 64-bit hash.
          this.held.setIfAbsent(hi, lo, 0);
          this.reject(line, this.rawEmailOf(batch, r, at), 'hash_collision', COLLISION_DETAIL);
          continue;
        }
      }
      if (first !== -1) {
        const where =
          first === PAST_CAP
            ? 'an earlier row (past the profile cap)'
            : `${this.files[this.firstFile[first]!]} line ${this.firstLine[first]}`;
        this.reject(line, this.rawEmailOf(batch, r, at), 'duplicate', `same email as ${where}`);
        continue;
      }
      if (pastCap) {
        if (this.counts.contacts >= 2 * this.options.profileCap) throw this.capError(true);
      } else {
        const chi = rowContentHi(ints, r);
        const clo = rowContentLo(ints, r);
        // A known email is not copied: `buildFrom` takes it from the previous snapshot (same hash, same email).
        if (at === -1)
          this.target.addEncoded(hi, lo, chi, clo, bytes, rowEmailStart(ints, r), rowEmailEnd(ints, r));
        else this.target.addKnown(hi, lo, chi, clo);
        this.remember(entry, line, at);
      }
      this.counts.contacts++;
      if (at === -1) this.counts.added++;
      else {
        this.entryOfPrevious[at] = entry + 1;
        this.seenPrevious[at >>> 5]! |= 1 << (at & 31);
        if (isUnchangedRow(ints, r)) this.counts.unchanged++;
        else this.counts.changed++;
      }
      const jsonStart = rowJsonStart(ints, r);
      const jsonEnd = rowJsonEnd(ints, r);
      // The preparer encoded the JSON exactly when the contact is to be sent (new, changed, or a full
      // resync); it already refused contacts too large for any request.
      if (jsonEnd > jsonStart && !this.capExceeded) {
        packer.addEncoded(batch.json, jsonStart, jsonEnd);
        this.counts.toUpsert++;
      }
    }
  }

  /**
   * Ends the run: stages unsubscribes (mirror mode), flushes the last slice and enforces the cap.
   * Returns the counts and the target snapshot (the snapshot to keep if ActiveCampaign confirms everything).
   */
  finish(): { counts: PipelineCounts; target: Snapshot } {
    this.stageDepartures();
    if (this.capExceeded) throw this.capError(false);
    this.packer.flush();
    const totals = this.packer.totals;
    this.counts.requests = totals.requests;
    this.counts.slices = totals.slices;
    const { previous } = this.options;
    return {
      counts: { ...this.counts, rejectedByReason: { ...this.counts.rejectedByReason } },
      // Nothing added, changed or dropped: every entry is a previous one with the same hashes (so the same
      // email), so the target IS the previous snapshot; skip re-ordering a million entries.
      // A first run's target is left in the order the rows came (sorted when the finaliser reads it).
      target:
        this.counts.added === 0 && this.counts.changed === 0 && this.target.count === previous.count
          ? previous
          : previous.count === 0
            ? this.target.buildUnsorted()
            : this.target.buildFrom(this.previousAt, previous),
    };
  }

  /**
   * After the last row: deals with up to `entries` more previous contacts that no segment holds now (an
   * unsubscribe staged in mirror mode; kept in add mode, or when a rejected row still holds the email).
   * Returns true while some remain. Prepare calls it in batches and lets the slice uploads drain between
   * them (a million departures are ~60 MB of unsubscribes); `finish` deals with whatever is left.
   */
  stageDepartures(entries = Infinity): boolean {
    const { previous, membership, listId } = this.options;
    const end = Math.min(previous.count, this.departuresDone + entries);
    for (let i = this.departuresDone; i < end; i++) {
      if (this.entryOfPrevious[i]) continue;
      const hi = previous.emailHi[i]!;
      const lo = previous.emailLo[i]!;
      // A contact whose row was rejected for a field (not for its email) is still in the segment: keep it.
      if (this.held.has(hi, lo)) {
        this.keep(previous, i);
        continue;
      }
      this.counts.removed++;
      if (membership === 'mirror') {
        if (this.capExceeded) continue;
        this.packer.tryAdd(JSON.stringify(toBulkUnsubscribe(previous.emailAt(i), listId)));
        this.counts.toUnsubscribe++;
      } else {
        // Add mode never removes, so the contact stays in the list and in the snapshot.
        this.keep(previous, i);
      }
    }
    this.departuresDone = end;
    return end < previous.count;
  }

  /** The cap error: with the exact count, or (`stopped`) the count at which reading stopped. */
  private capError(stopped: boolean): LimitExceededError {
    const cap = this.options.profileCap.toLocaleString('en-US');
    const count = this.counts.contacts.toLocaleString('en-US');
    return new LimitExceededError(
      (stopped
        ? `The export's segments hold more than ${count} unique valid profiles (reading stopped there), `
        : `The export's segments hold ${count} unique valid profiles, `) +
        `more than the cap of ${cap} (setting EXPORT_PROFILE_CAP); nothing was sent`,
    );
  }

  /**
   * Sizes the run's tables for `bytes` more bytes of input like the `batchBytes` that gave `batch` (just
   * accepted): one allocation each now instead of growing by doubling, which for a million new contacts
   * copies them several times and churns ~150 MB on the accepting thread. A hint only (tables still grow
   * past it), and never beyond the profile cap.
   */
  expect(bytes: number, batch: RowBatch, batchBytes: number): void {
    if (batchBytes <= 0 || bytes <= 0) return;
    const { ints } = batch;
    let contacts = 0;
    let added = 0;
    let addedEmailBytes = 0;
    for (let r = 0, end = batch.rows * ROW_INTS; r < end; r += ROW_INTS) {
      if (isRejectedRow(ints, r)) continue;
      contacts++;
      if (rowPrevious(ints, r) !== -1) continue;
      added++;
      addedEmailBytes += rowEmailEnd(ints, r) - rowEmailStart(ints, r);
    }
    // A little more than the sample says (the rest of the input may differ a little): 5%.
    const scale = (bytes / batchBytes) * 1.05;
    const cap = this.options.profileCap;
    const entries = Math.min(cap, this.target.count + Math.ceil(contacts * scale));
    const newEntries = Math.min(cap, this.index.size + Math.ceil(added * scale));
    // The new emails' bytes at the sample's average length, for as many as are reserved (within the cap).
    const emailBytes = Math.ceil((addedEmailBytes / Math.max(1, added)) * (newEntries - this.index.size));
    this.index.reserve(newEntries);
    this.target.reserve(entries, this.target.emailByteCount + emailBytes);
    this.growRemembered(entries);
  }

  /** Grows the per-entry arrays `remember` writes to `size` entries. */
  private growRemembered(size: number): void {
    if (size <= this.firstLine.length) return;
    this.firstLine = grownTo(this.firstLine, size);
    this.firstFile = grownTo(this.firstFile, size);
    this.previousAt = grownTo(this.previousAt, size);
  }

  /** Records where entry `entry` was first seen and its index in the previous snapshot (-1: new). */
  private remember(entry: number, line: number, at: number): void {
    if (entry >= this.firstLine.length) this.growRemembered(this.firstLine.length * 2);
    this.firstLine[entry] = line;
    this.firstFile[entry] = this.fileIndex;
    this.previousAt[entry] = at;
  }

  /** Carries previous entry `i` into the target unchanged. */
  private keep(previous: Snapshot, i: number): void {
    this.remember(this.target.addFrom(previous, i), 0, i);
  }

  /** The email of row `r` as found: its own bytes when normalising changed it, else the normalised email. */
  private rawEmailOf(batch: RowBatch, r: number, at: number): string {
    const { ints, bytes } = batch;
    const start = rowEmailStart(ints, r);
    const emailEnd = rowEmailEnd(ints, r);
    const rawEnd = rowRawEnd(ints, r);
    if (rawEnd > emailEnd) return decoder.decode(bytes.subarray(emailEnd, rawEnd));
    return emailEnd > start
      ? decoder.decode(bytes.subarray(start, emailEnd))
      : this.options.previous.emailAt(at);
  }

  /** A row the preparer rejected: its emails stay "in the segment" (see `held`) when the note says so. */
  private rejectNoted(line: number, note: RowNote): void {
    const held = note.held;
    if (held)
      for (let i = 0; i < held.length; i += 2) this.held.setIfAbsent(held[i]! >>> 0, held[i + 1]! >>> 0, 0);
    this.reject(line, note.rawEmail, note.reason, note.detail);
  }

  private reject(line: number, email: string, reason: RejectReason, detail: string): void {
    this.counts.rejected++;
    this.counts.rejectedByReason[reason] = (this.counts.rejectedByReason[reason] ?? 0) + 1;
    this.sink.reject({ file: this.file, line, email, reason, detail });
  }
}
