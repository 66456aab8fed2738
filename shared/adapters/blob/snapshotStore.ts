/** Reads, writes and advances export snapshots (gzipped binary blobs, see domain/segments/snapshot.ts). */
import type { Readable } from 'node:stream';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGunzip, gzip } from 'node:zlib';

import type { ContainerClient } from '@azure/storage-blob';

import { normaliseEmail } from '../../domain/segments/contact';
import { HashIndex } from '../../domain/segments/emailHashSet';
import { hash64 } from '../../domain/segments/hash64';
import {
  advanceSnapshot,
  decodeSnapshot,
  encodedTablesBytes,
  encodeSnapshot,
  isSortedSnapshot,
  Snapshot,
} from '../../domain/segments/snapshot';
import { AppError, statusCodeOf } from '../../errors';
import { runFolder, snapshotBlobName, targetSnapshotBlobName } from './runFolder';

const gzipAsync = promisify(gzip);

/**
 * The stored bytes each snapshot was read from. Snapshots are never mutated, so writing one that was read
 * (an unchanged run's target IS the previous snapshot) can upload those bytes as they are instead of
 * encoding and compressing a million entries again.
 */
const storedBytes = new WeakMap<Snapshot, Buffer>();

/** Reads a snapshot blob; undefined when it does not exist. */
export async function readSnapshot(
  container: ContainerClient,
  blobName: string,
): Promise<Snapshot | undefined> {
  let body: NodeJS.ReadableStream | undefined;
  let length = 0;
  try {
    const download = await container.getBlobClient(blobName).download(0);
    body = download.readableStreamBody;
    length = download.contentLength ?? 0;
  } catch (error) {
    if (statusCodeOf(error) === 404) return undefined;
    throw error;
  }
  // Gunzipped while it downloads (a million contacts are ~27 MB stored): the inflate overlaps the transfer
  // instead of following it. The stored bytes are kept too, for `writeSnapshot`.
  // Copied into one buffer of the blob's size as it arrives (no second copy to concatenate chunks).
  let stored = Buffer.allocUnsafe(length);
  let storedLength = 0;
  const inflated: Buffer[] = [];
  const corrupt = (error: unknown) =>
    new AppError(`Snapshot ${blobName} is corrupt: ${(error as Error).message}`, {
      code: 'snapshot_corrupt',
      cause: error,
    });
  if (!body) throw corrupt(new Error('no content stream'));
  try {
    await pipeline(
      body as Readable,
      new Transform({
        transform(chunk: Buffer, _encoding, done) {
          if (storedLength + chunk.length > stored.length) {
            // More bytes than announced (should not happen): grow rather than fail.
            stored = Buffer.concat([stored.subarray(0, storedLength), chunk]);
          } else chunk.copy(stored, storedLength);
          storedLength += chunk.length;
          done(null, chunk);
        },
      }),
      // Output in 1 MiB chunks rather than zlib's 16 KB: ~45 callbacks per million contacts, not ~2,700.
      createGunzip({ chunkSize: 1024 * 1024 }),
      // A sink as the last stage, so the gunzip's own end-of-input errors reach `pipeline`.
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          inflated.push(chunk);
          done();
        },
      }),
    );
  } catch (error) {
    // Bad gzip data is a corrupt snapshot; anything else (the download failing) is thrown as it is.
    if (String((error as { code?: unknown }).code).startsWith('Z_')) throw corrupt(error);
    throw error;
  }
  try {
    const raw = inflated.length === 1 ? inflated[0]! : Buffer.concat(inflated);
    const snapshot = decodeSnapshot(raw);
    // Only a sorted blob may be written again as it is (an unsorted one was sorted when decoded).
    if (isSortedSnapshot(raw)) storedBytes.set(snapshot, stored.subarray(0, storedLength));
    return snapshot;
  } catch (error) {
    throw corrupt(error);
  }
}

/** Writes a snapshot blob (see `snapshotBlobBytes`). */
export async function writeSnapshot(
  container: ContainerClient,
  blobName: string,
  snapshot: Snapshot,
): Promise<void> {
  const body = await snapshotBlobBytes(snapshot);
  await container.getBlockBlobClient(blobName).uploadData(body, {
    blobHTTPHeaders: { blobContentType: 'application/octet-stream', blobContentEncoding: 'identity' },
  });
}

/** Emails are split into one gzip member per started 4 MiB (a million contacts' ~22 MB: 4 members). */
const EMAIL_SPLIT_BYTES = 4 * 1024 * 1024;
/** At most this many email members (libuv's default pool has 4 threads). */
const EMAIL_MEMBERS = 4;
/** More than a stored gzip member adds to its input (header, trailer, 5 bytes per 64 KiB block): 64 KiB. */
const MEMBER_OVERHEAD = 64 * 1024;

/**
 * A snapshot's stored bytes: concatenated gzip members, which any gunzip (RFC 1952 §2.2, Node's zlib
 * included) reads back as one stream. The hash tables are stored (level 0: random hashes never compress,
 * and deflating them cost ~0.6 s per million contacts for nothing); the emails are cut into up to 4
 * members deflated at level 1 side by side on libuv's pool. Same size as deflating everything (each member
 * loses only its first 32 KB of history), a fraction of the time. The bytes a snapshot was read from are
 * reused as they are.
 */
async function snapshotBlobBytes(snapshot: Snapshot): Promise<Buffer> {
  const stored = storedBytes.get(snapshot);
  if (stored) return stored;
  const raw = encodeSnapshot(snapshot);
  const split = encodedTablesBytes(snapshot.count);
  const emailBytes = raw.length - split;
  const members = Math.min(EMAIL_MEMBERS, Math.max(1, Math.ceil(emailBytes / EMAIL_SPLIT_BYTES)));
  const per = Math.ceil(emailBytes / members);
  // Large output chunks (the stored tables in one, the emails, ~5× smaller deflated, in 1 MiB ones): zlib's
  // default 16 KB means a callback on this thread per 16 KB, which is most of the cost of compressing.
  const parts = [gzipAsync(raw.subarray(0, split), { level: 0, chunkSize: split + MEMBER_OVERHEAD })];
  for (let from = split; from < raw.length; from += per) {
    const member = raw.subarray(from, Math.min(raw.length, from + per));
    parts.push(gzipAsync(member, { level: 1, chunkSize: 1024 * 1024 }));
  }
  return Buffer.concat(await Promise.all(parts));
}

/**
 * Moves an export's snapshot forward after a run, only for the contacts ActiveCampaign confirmed
 * (added/updated or unsubscribed). Unconfirmed contacts keep their previous state and are sent again next run.
 */
export async function advanceExportSnapshot(
  workContainer: ContainerClient,
  input: { exportId: string; runId: string; confirmedEmails: Iterable<string> },
): Promise<{ contacts: number }> {
  const folder = runFolder(input.exportId, input.runId);
  const [target, previousOrNone] = await Promise.all([
    readSnapshot(workContainer, targetSnapshotBlobName(folder)),
    readSnapshot(workContainer, snapshotBlobName(input.exportId)),
  ]);
  if (!target) {
    throw new AppError(`Run ${input.runId} of export ${input.exportId} has no target snapshot`, {
      code: 'snapshot_missing',
    });
  }
  const previous = previousOrNone ?? Snapshot.empty();
  // At most the target's contacts plus the unsubscribes are confirmed: size for them, never rehash.
  const confirmed = new HashIndex(
    Array.isArray(input.confirmedEmails) ? input.confirmedEmails.length : target.count,
  );
  const h = { hi: 0, lo: 0 };
  for (const email of input.confirmedEmails) {
    hash64(normaliseEmail(email), h);
    confirmed.setIfAbsent(h.hi, h.lo, 0);
  }
  const next = advanceSnapshot(previous, target, (hi, lo) => confirmed.has(hi, lo));
  await writeSnapshot(workContainer, snapshotBlobName(input.exportId), next);
  return { contacts: next.count };
}
