/**
 * Packs serialised bulk-import contacts into request bodies and request bodies into slices.
 *
 * ActiveCampaign's limits (activecampaign-api.md, "Bulk import"; developers.activecampaign.com/reference/
 * bulk-import-contacts): at most 250 contacts per request, and the body under 400,000 bytes. The byte count
 * is exact: the body is assembled from the very strings we measure, so `JSON.stringify(JSON.parse(body))`
 * (what the pusher sends) has the same bytes.
 */
import { utf8Length } from './contact';

/** Limits for packing; defaults are ActiveCampaign's. */
export interface PackingLimits {
  /** Contacts per request (ActiveCampaign: at most 250). */
  maxContactsPerRequest: number;
  /** Largest body in bytes, inclusive (ActiveCampaign: under 400,000, so 399,999). */
  maxBodyBytes: number;
  /** Requests per staged slice: one Push activity submits one slice. */
  requestsPerSlice: number;
  /** Sent as `exclude_automations` (true makes imports faster, per ActiveCampaign). */
  excludeAutomations: boolean;
}

/** ActiveCampaign's documented limits, four requests per slice, automations excluded. */
export const DEFAULT_PACKING_LIMITS: PackingLimits = {
  maxContactsPerRequest: 250,
  maxBodyBytes: 399_999,
  requestsPerSlice: 4,
  excludeAutomations: true,
};

/** One completed slice: its 1-based number, the JSON text to store, and what it holds. */
export interface PackedSlice {
  number: number;
  json: string;
  requests: number;
  contacts: number;
}

const BODY_HEAD = '{"contacts":[';

/** Accumulates contacts; calls `onSlice` each time a slice is full (and once more on `flush`). */
export class RequestPacker {
  private readonly bodyTail: string;
  private readonly emptyBodyBytes: number;
  private current: string[] = [];
  private currentBytes = 0;
  private requests: string[] = [];
  private sliceContacts = 0;
  private sliceNumber = 0;
  private requestTotal = 0;
  private contactTotal = 0;

  constructor(
    private readonly limits: PackingLimits,
    private readonly onSlice: (slice: PackedSlice) => void,
  ) {
    this.bodyTail = `],"exclude_automations":${limits.excludeAutomations}}`;
    this.emptyBodyBytes = utf8Length(BODY_HEAD) + utf8Length(this.bodyTail);
  }

  /** Total requests and contacts packed so far (including unflushed ones). */
  get totals(): { requests: number; contacts: number; slices: number } {
    return {
      requests: this.requestTotal + (this.current.length ? 1 : 0),
      contacts: this.contactTotal,
      slices: this.sliceNumber + (this.requests.length || this.current.length ? 1 : 0),
    };
  }

  /** True when a contact of `bytes` bytes could never fit in a body on its own. */
  tooLarge(bytes: number): boolean {
    return this.emptyBodyBytes + bytes > this.limits.maxBodyBytes;
  }

  /** Adds one serialised contact of `bytes` UTF-8 bytes (check `tooLarge` first). */
  add(contactJson: string, bytes: number): void {
    if (this.tooLarge(bytes)) throw new Error(`contact of ${bytes} bytes cannot fit in a bulk request`);
    const separator = this.current.length ? 1 : 0;
    if (
      this.current.length === this.limits.maxContactsPerRequest ||
      this.emptyBodyBytes + this.currentBytes + separator + bytes > this.limits.maxBodyBytes
    ) {
      this.closeRequest();
    }
    this.currentBytes += (this.current.length ? 1 : 0) + bytes;
    this.current.push(contactJson);
    this.contactTotal++;
  }

  /** Closes the open request and slice. */
  flush(): void {
    if (this.current.length) this.closeRequest();
    if (this.requests.length) this.closeSlice();
  }

  private closeRequest(): void {
    const bytes = this.emptyBodyBytes + this.currentBytes;
    const body = BODY_HEAD + this.current.join(',') + this.bodyTail;
    this.requests.push(`{"contactCount":${this.current.length},"bytes":${bytes},"body":${body}}`);
    this.sliceContacts += this.current.length;
    this.requestTotal++;
    this.current = [];
    this.currentBytes = 0;
    if (this.requests.length === this.limits.requestsPerSlice) this.closeSlice();
  }

  private closeSlice(): void {
    this.sliceNumber++;
    const json = `{"version":1,"slice":${this.sliceNumber},"requests":[${this.requests.join(',')}]}`;
    const slice = {
      number: this.sliceNumber,
      json,
      requests: this.requests.length,
      contacts: this.sliceContacts,
    };
    this.requests = [];
    this.sliceContacts = 0;
    this.onSlice(slice);
  }
}
