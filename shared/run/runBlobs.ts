/**
 * The blobs a run keeps in its folder besides what Prepare stages (adapters/blob/runFolder.ts):
 *   slices/00001.push.jsonl     append blob: one line per bulk request attempt Push made (batch id or error)
 *   slices/00001.results.json   what reconciling settled, per request: confirmed, failed (with reasons)
 *   cancel                      present once the run was canceled: Push sends nothing more
 *   report.json, failed.csv     Finalise's report, and the contacts ActiveCampaign did not confirm
 * They are written before an activity returns, so a re-run activity reads what its first execution did.
 */
import type { ContainerClient } from '@azure/storage-blob';
import { z } from 'zod';

import { statusCodeOf } from '../errors';
import { SubmittedRequest } from './payloads';

const sliceStem = (folder: string, slice: number) => `${folder}/slices/${String(slice).padStart(5, '0')}`;

/** The push log of one slice. */
export function pushLogBlobName(folder: string, slice: number): string {
  return `${sliceStem(folder, slice)}.push.jsonl`;
}

/** The reconcile results of one slice. */
export function resultsBlobName(folder: string, slice: number): string {
  return `${sliceStem(folder, slice)}.results.json`;
}

/** The cancel marker of a run. */
export function cancelBlobName(folder: string): string {
  return `${folder}/cancel`;
}

/** The run report. */
export function reportBlobName(folder: string): string {
  return `${folder}/report.json`;
}

/** The contacts ActiveCampaign did not confirm, with reasons (CSV). */
export function failedBlobName(folder: string): string {
  return `${folder}/failed.csv`;
}

/** One line of a push log: a request attempt and what came of it. */
export const PushLogEntry = SubmittedRequest.extend({ attempt: z.number().int().nonnegative() });
export type PushLogEntry = z.infer<typeof PushLogEntry>;

/** A line written just before a request is sent: without an outcome line after it, the send was cut short. */
const SendingLine = z.object({ sending: z.object({ request: z.number(), attempt: z.number() }) });

/** A slice's push log: the outcomes, and the sends that began but recorded no outcome (a crash between). */
export interface PushLog {
  entries: PushLogEntry[];
  /** `request:attempt` of sends with no outcome: ActiveCampaign may or may not have received them. */
  interrupted: Set<string>;
}

/** Reads a slice's push log (empty when none was written yet). */
export async function readPushLog(
  container: ContainerClient,
  folder: string,
  slice: number,
): Promise<PushLog> {
  const text = await downloadText(container, pushLogBlobName(folder, slice));
  const log: PushLog = { entries: [], interrupted: new Set() };
  for (const line of (text ?? '').split('\n')) {
    if (line.trim() === '') continue;
    const json: unknown = JSON.parse(line);
    const sending = SendingLine.safeParse(json);
    if (sending.success) {
      log.interrupted.add(`${sending.data.sending.request}:${sending.data.sending.attempt}`);
      continue;
    }
    const entry = PushLogEntry.parse(json);
    log.interrupted.delete(`${entry.request}:${entry.attempt}`);
    log.entries.push(entry);
  }
  return log;
}

/**
 * Writes a slice's push log with one append per request: the outcome of the request before and the
 * "sending" line of the next one go out together, before that next request is sent. So every outcome is
 * stored before anything else is sent, and a send that a crash cut short shows as a "sending" line
 * without an outcome.
 */
export class PushLogWriter {
  private created = false;
  private queued: string[] = [];

  constructor(
    private readonly container: ContainerClient,
    private readonly folder: string,
    private readonly slice: number,
  ) {}

  /** Queues a request's outcome (written with the next `sending`, or by `flush`). */
  outcome(entry: PushLogEntry): void {
    this.queued.push(JSON.stringify(PushLogEntry.parse(entry)));
  }

  /** Writes the queued outcomes and the line saying this request is about to be sent. */
  async sending(sending: { request: number; attempt: number }): Promise<void> {
    this.queued.push(JSON.stringify({ sending }));
    await this.flush();
  }

  /** Writes what is queued. */
  async flush(): Promise<void> {
    if (this.queued.length === 0) return;
    const blob = this.container.getAppendBlobClient(pushLogBlobName(this.folder, this.slice));
    if (!this.created) {
      await blob.createIfNotExists({ blobHTTPHeaders: { blobContentType: 'application/x-ndjson' } });
      this.created = true;
    }
    const text = `${this.queued.join('\n')}\n`;
    this.queued = [];
    await blob.appendBlock(text, Buffer.byteLength(text));
  }
}

/** A settled contact that ActiveCampaign did not confirm. */
export const UnconfirmedContact = z.object({
  email: z.string(),
  reason: z.string(),
  /** It was to be unsubscribed (mirror mode), not added or updated. */
  unsubscribe: z.boolean().optional(),
});

/** What reconciling settled for one request of a slice. */
export const SettledRequest = z.object({
  attempt: z.number(),
  batchId: z.string().optional(),
  /** Emails ActiveCampaign confirmed, split by what was asked of them. */
  upserted: z.array(z.string()),
  unsubscribed: z.array(z.string()),
  failed: z.array(UnconfirmedContact),
  /** The request's answer was lost and it was resent: its contacts may have been applied twice. */
  mayBeAppliedTwice: z.boolean().optional(),
});
export type SettledRequest = z.infer<typeof SettledRequest>;

/** A slice's results: settled requests by index. */
export const SliceResults = z.object({ requests: z.record(z.string(), SettledRequest) });
export type SliceResults = z.infer<typeof SliceResults>;

/** Reads a slice's results (none settled when absent). */
export async function readSliceResults(
  container: ContainerClient,
  folder: string,
  slice: number,
): Promise<SliceResults> {
  const text = await downloadText(container, resultsBlobName(folder, slice));
  return text === undefined ? { requests: {} } : SliceResults.parse(JSON.parse(text));
}

/** Writes a slice's results (whole). */
export async function writeSliceResults(
  container: ContainerClient,
  folder: string,
  slice: number,
  results: SliceResults,
): Promise<void> {
  await uploadText(container, resultsBlobName(folder, slice), JSON.stringify(results), 'application/json');
}

/** True once the run was canceled. */
export async function isCanceled(container: ContainerClient, folder: string): Promise<boolean> {
  return container.getBlobClient(cancelBlobName(folder)).exists();
}

/** Marks a run canceled. */
export async function markCanceled(container: ContainerClient, folder: string, by: string): Promise<void> {
  await uploadText(container, cancelBlobName(folder), JSON.stringify({ by }), 'application/json');
}

/** A blob's text, or undefined when it does not exist. */
export async function downloadText(
  container: ContainerClient,
  blobName: string,
): Promise<string | undefined> {
  try {
    return (await container.getBlobClient(blobName).downloadToBuffer()).toString('utf8');
  } catch (error) {
    if (statusCodeOf(error) === 404) return undefined;
    throw error;
  }
}

/** Uploads a text blob (replacing it). */
export async function uploadText(
  container: ContainerClient,
  blobName: string,
  text: string,
  contentType: string,
): Promise<void> {
  const body = Buffer.from(text, 'utf8');
  await container
    .getBlockBlobClient(blobName)
    .upload(body, body.length, { blobHTTPHeaders: { blobContentType: contentType } });
}
