/**
 * The pure heart of Prepare: every record of every partition goes through `accept` in the export's order
 * (segments as listed, partitions by name, rows in order) and ends either packed for ActiveCampaign or
 * rejected with a reason. State per contact is compact: a 64-bit email hash index, the target snapshot
 * (16 bytes + email) and where each email was first seen (6 bytes).
 */
import { LimitExceededError } from '../../errors';
import {
  type Contact,
  emailProblem,
  MAX_FIELD_LENGTH,
  normaliseEmail,
  normaliseName,
  normaliseText,
  toBulkUnsubscribe,
  writeBulkContact,
} from './contact';
import { HashIndex } from './emailHashSet';
import type { ColumnIndexes, ExportMapping } from './exportMapping';
import { type Hash64, hash64, Hasher64 } from './hash64';
import type { RejectedRow, RejectReason } from './rejectedRows';
import { type PackedSlice, type PackingLimits, RequestPacker } from './requestPacker';
import type { Snapshot } from './snapshot';
import { SnapshotBuilder } from './snapshot';

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
  private columns: ColumnIndexes | undefined;
  private file = '';
  private fileIndex = -1;
  private readonly emailHash: Hash64 = { hi: 0, lo: 0 };
  private readonly contentHash: Hash64 = { hi: 0, lo: 0 };
  private readonly hasher = new Hasher64();
  /** `String(listId)` and `String(fieldId)`, made once instead of once per row for the content hash. */
  private readonly listIdText: string;
  private readonly fieldIdTexts = new Map<number, string>();
  /** The current row's normalised custom field values, one per mapped field column (reused across rows). */
  private readonly values: string[] = [];
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
    private readonly options: PipelineOptions,
    private readonly sink: PipelineSink,
  ) {
    this.listIdText = String(options.listId);
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

  /** Starts a new file whose records have the given column positions. */
  beginFile(file: string, columns: ColumnIndexes): void {
    this.file = file;
    this.columns = columns;
    this.fileIndex = this.files.length;
    this.files.push(file);
  }

  /** Processes one data record starting at physical line `line` of the current file. */
  accept(fields: readonly string[], line: number): void {
    const columns = this.columns;
    if (!columns) throw new Error('accept() before beginFile()');
    this.counts.rows++;
    const rawEmail = fields[columns.email] ?? '';
    if (fields.length !== columns.width) {
      // The person is still in the segment even though the row cannot be used: hold every address in it
      // (a stray delimiter may have shifted the email out of its column), so mirror mode never
      // unsubscribes them for a malformed line; an unsubscribe cannot be undone by bulk import.
      for (const field of fields) this.holdIfEmail(field);
      return this.reject(
        line,
        rawEmail,
        'ragged_row',
        `expected ${columns.width} fields, found ${fields.length}`,
      );
    }
    const email = normaliseEmail(rawEmail);
    if (email === '') return this.reject(line, rawEmail, 'missing_email', 'the email column is empty');
    const problem = emailProblem(email);
    if (problem) return this.reject(line, rawEmail, 'invalid_email', problem);
    const { hi, lo } = hash64(email, this.emailHash);

    // Normalised values in locals: the Contact object is built only for the rows that are sent (on an
    // incremental run most rows are unchanged and never need it, nor its arrays).
    const firstName = columns.firstName === -1 ? '' : normaliseName(fields[columns.firstName]);
    const lastName = columns.lastName === -1 ? '' : normaliseName(fields[columns.lastName]);
    const phone = columns.phone === -1 ? '' : normaliseText(fields[columns.phone]);
    const tags = this.tagsOf(fields);
    const fieldColumns = columns.fields;
    const values = this.values;
    for (let i = 0; i < fieldColumns.length; i++) values[i] = normaliseText(fields[fieldColumns[i]!.index]);
    const tooLong = this.tooLong(firstName, lastName, phone, tags);
    if (tooLong) return this.hold(line, rawEmail, 'field_too_long', tooLong);

    const entry = this.target.count;
    const previous = this.options.previous;
    const at = previous.count === 0 ? -1 : previous.find(hi, lo);
    const first =
      at === -1
        ? this.index.setIfAbsent(hi, lo, entry)
        : (this.seenPrevious[at >>> 5]! & (1 << (at & 31))) === 0
          ? -1
          : this.entryOfPrevious[at]! - 1;
    if (first !== -1) {
      const where = `${this.files[this.firstFile[first]!]} line ${this.firstLine[first]}`;
      return this.reject(line, rawEmail, 'duplicate', `same email as ${where}`);
    }
    // The content hash covers everything sent, without building the JSON: most rows of an incremental
    // run are unchanged and never need it.
    const h = this.hasher.reset().update(firstName).update(lastName).update(phone);
    for (const tag of tags) h.update(tag);
    h.update('\u0002');
    for (let i = 0; i < fieldColumns.length; i++) {
      // Empty custom values are not sent, so not hashed (the same pairs as `contact.fields` below).
      const value = values[i]!;
      if (value !== '') h.update(this.fieldIdText(fieldColumns[i]!.fieldId)).update(value);
    }
    const { hi: chi, lo: clo } = h.update(this.listIdText).digest(this.contentHash);
    // A known email is not copied: `buildFrom` takes it from the previous snapshot (same hash, same email).
    if (at === -1) this.target.add(hi, lo, chi, clo, email);
    else this.target.addKnown(hi, lo, chi, clo);
    this.remember(entry, line, at);
    this.counts.contacts++;

    let send = this.options.fullResync;
    if (at === -1) {
      this.counts.added++;
      send = true;
    } else {
      this.entryOfPrevious[at] = entry + 1;
      this.seenPrevious[at >>> 5]! |= 1 << (at & 31);
      if (previous.sameContent(at, chi, clo)) this.counts.unchanged++;
      else {
        this.counts.changed++;
        send = true;
      }
    }
    if (send && !this.capExceeded) {
      const contact: Contact = { email, firstName, lastName, phone, tags, fields: [] };
      for (let i = 0; i < fieldColumns.length; i++) {
        const value = values[i]!;
        if (value !== '') contact.fields.push({ id: fieldColumns[i]!.fieldId, value });
      }
      // Encoded once, straight into the request body; the encoder's byte count is the size check.
      this.packer.beginContact();
      writeBulkContact(contact, this.options.listId, this.packer);
      const bytes = this.packer.endContact();
      // Never confirmed, so it stays "to send" in later runs and is rejected again each time: visible, not lost.
      if (this.packer.tooLarge(bytes)) {
        return this.reject(
          line,
          rawEmail,
          'contact_too_large',
          `${bytes} bytes cannot fit in one bulk request`,
        );
      }
      this.counts.toUpsert++;
    }
  }

  /**
   * Ends the run: stages unsubscribes (mirror mode), flushes the last slice and enforces the cap.
   * Returns the counts and the target snapshot (the snapshot to keep if ActiveCampaign confirms everything).
   */
  finish(): { counts: PipelineCounts; target: Snapshot } {
    const { previous, membership, listId, profileCap } = this.options;
    for (let i = 0; i < previous.count; i++) {
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
    if (this.capExceeded) {
      throw new LimitExceededError(
        `The export's segments hold ${this.counts.contacts.toLocaleString('en-US')} unique valid profiles, ` +
          `more than the cap of ${profileCap.toLocaleString('en-US')} (setting EXPORT_PROFILE_CAP); nothing was sent`,
      );
    }
    this.packer.flush();
    const totals = this.packer.totals;
    this.counts.requests = totals.requests;
    this.counts.slices = totals.slices;
    return {
      counts: { ...this.counts, rejectedByReason: { ...this.counts.rejectedByReason } },
      // Nothing added, changed or dropped: every entry is a previous one with the same hashes (so the same
      // email), so the target IS the previous snapshot; skip re-ordering a million entries.
      target:
        this.counts.added === 0 && this.counts.changed === 0 && this.target.count === previous.count
          ? previous
          : this.target.buildFrom(this.previousAt, previous),
    };
  }

  /** The counts so far (for progress). */
  get progress(): Readonly<PipelineCounts> {
    return this.counts;
  }

  private fieldIdText(id: number): string {
    let text = this.fieldIdTexts.get(id);
    if (text === undefined) this.fieldIdTexts.set(id, (text = String(id)));
    return text;
  }

  private tagsOf(fields: readonly string[]): string[] {
    const { fixed, separator } = this.options.mapping.tags;
    const column = this.columns!.tags;
    if (column === -1) return fixed;
    const raw = fields[column] ?? '';
    if (raw.trim() === '') return fixed;
    const tags = fixed.slice();
    for (const part of raw.split(separator)) {
      const tag = normaliseName(part);
      if (tag !== '' && !tags.includes(tag)) tags.push(tag);
    }
    return tags;
  }

  private tooLong(firstName: string, lastName: string, phone: string, tags: string[]): string | undefined {
    const { mapping } = this.options;
    if (firstName.length > MAX_FIELD_LENGTH)
      return `${mapping.firstName} is longer than ${MAX_FIELD_LENGTH} characters`;
    if (lastName.length > MAX_FIELD_LENGTH)
      return `${mapping.lastName} is longer than ${MAX_FIELD_LENGTH} characters`;
    if (phone.length > MAX_FIELD_LENGTH)
      return `${mapping.phone} is longer than ${MAX_FIELD_LENGTH} characters`;
    // A loop, not `tags.find(…)`: no closure per row.
    for (let i = 0; i < tags.length; i++) {
      if (tags[i]!.length > MAX_FIELD_LENGTH)
        return `a tag in ${mapping.tags.column} is longer than ${MAX_FIELD_LENGTH} characters`;
    }
    return undefined;
  }

  /** Records where entry `entry` was first seen and its index in the previous snapshot (-1: new). */
  private remember(entry: number, line: number, at: number): void {
    if (entry >= this.firstLine.length) {
      const lines = new Uint32Array(this.firstLine.length * 2);
      lines.set(this.firstLine);
      this.firstLine = lines;
      const files = new Uint16Array(this.firstFile.length * 2);
      files.set(this.firstFile);
      this.firstFile = files;
      const ats = new Int32Array(this.previousAt.length * 2);
      ats.set(this.previousAt);
      this.previousAt = ats;
    }
    this.firstLine[entry] = line;
    this.firstFile[entry] = this.fileIndex;
    this.previousAt[entry] = at;
  }

  /** Carries previous entry `i` into the target unchanged. */
  private keep(previous: Snapshot, i: number): void {
    this.remember(this.target.addFrom(previous, i), 0, i);
  }

  /** Holds `value` (see `hold`) when it normalises to a valid email. */
  private holdIfEmail(value: string): void {
    const email = normaliseEmail(value);
    if (email === '' || emailProblem(email)) return;
    const { hi, lo } = hash64(email, this.emailHash);
    this.held.setIfAbsent(hi, lo, 0);
  }

  private hold(line: number, rawEmail: string, reason: RejectReason, detail: string): void {
    this.held.setIfAbsent(this.emailHash.hi, this.emailHash.lo, 0);
    this.reject(line, rawEmail, reason, detail);
  }

  private reject(line: number, email: string, reason: RejectReason, detail: string): void {
    this.counts.rejected++;
    this.counts.rejectedByReason[reason] = (this.counts.rejectedByReason[reason] ?? 0) + 1;
    this.sink.reject({ file: this.file, line, email, reason, detail });
  }
}
