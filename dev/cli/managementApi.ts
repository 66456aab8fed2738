/**
 * The management API as the CLI uses it, over HTTP on the local host: the connection and the export by
 * their deterministic names (created or updated), and the run routes. Errors carry the API's message and
 * field details in one line.
 */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

interface ErrorBody {
  error?: { code?: string; message?: string; details?: { path?: string; message?: string }[] };
}

/** The fields a run's status carries that the CLI reads. */
export interface RunStatusView {
  runId: string;
  status: 'running' | 'succeeded' | 'succeededWithRejections' | 'failed' | 'canceled';
  stage: string;
  reason?: string;
  code?: string;
  progress: {
    total: number | null;
    confirmed: number;
    failed: number;
    percent: number | null;
    ratePerSecond: number | null;
    etaSeconds: number | null;
  };
}

export interface StartedRun {
  runId: string;
  outcome: 'started' | 'followUpRequested';
}

interface Listed {
  id: string;
  etag?: string;
}

/** A small client for `<host>/api`. */
export class ManagementApi {
  constructor(
    readonly base: string,
    private readonly fetchFn: typeof fetch = fetch,
  ) {}

  /** One request; JSON in and out; a non-2xx answer becomes an `ApiError` with the API's message. */
  async call<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ body: T; etag: string | null }> {
    const res = await this.fetchFn(`${this.base}${path}`, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) {
      let parsed: ErrorBody = {};
      try {
        parsed = JSON.parse(text) as ErrorBody;
      } catch {
        // Not JSON: the status line says enough.
      }
      const details = (parsed.error?.details ?? [])
        .map((d) => `${d.path ?? ''}: ${d.message ?? ''}`)
        .join('; ');
      const message = parsed.error?.message ?? `HTTP ${res.status}`;
      throw new ApiError(
        details && !message.includes(details) ? `${message} (${details})` : message,
        res.status,
        parsed.error?.code,
      );
    }
    return { body: (text ? JSON.parse(text) : undefined) as T, etag: res.headers.get('etag') };
  }

  /** Every item of a list route, following `next`. */
  async listAll<T>(path: string): Promise<T[]> {
    const items: T[] = [];
    let continuation: string | null = null;
    do {
      const query: string = `?limit=1000${continuation ? `&continuation=${encodeURIComponent(continuation)}` : ''}`;
      const { body } = await this.call<{ items: T[]; next: string | null }>('GET', `${path}${query}`);
      items.push(...body.items);
      continuation = body.next;
    } while (continuation);
    return items;
  }

  /** Creates the connection named `displayName`, or updates its host and key (verified by the API either way). */
  async upsertConnection(displayName: string, hostname: string, apiKey: string): Promise<string> {
    const existing = (await this.listAll<Listed & { displayName: string }>('/connections')).find(
      (c) => c.displayName === displayName,
    );
    if (!existing) {
      const { body } = await this.call<Listed>('POST', '/connections', {
        displayName,
        hostname,
        apiKey,
        allowContributors: false,
        acceptDataPrivacy: true,
      });
      return body.id;
    }
    const { etag } = await this.call<Listed>('GET', `/connections/${existing.id}`);
    await this.call(
      'PATCH',
      `/connections/${existing.id}`,
      { hostname, apiKey },
      etag ? { 'if-match': etag } : {},
    );
    return existing.id;
  }

  /** Creates the export named `definition.name`, or replaces its definition. */
  async upsertExport(definition: { name: string } & Record<string, unknown>): Promise<string> {
    const existing = (await this.listAll<Listed & { name: string }>('/exports')).find(
      (e) => e.name === definition.name,
    );
    if (!existing) return (await this.call<Listed>('POST', '/exports', definition)).body.id;
    const { etag } = await this.call<Listed>('GET', `/exports/${existing.id}`);
    await this.call('PATCH', `/exports/${existing.id}`, definition, etag ? { 'if-match': etag } : {});
    return existing.id;
  }

  /** The export's runs still `running` (left by an earlier, interrupted invocation). */
  async runningRuns(exportId: string): Promise<string[]> {
    const { body } = await this.call<{ items: { runId: string; status: string }[] }>(
      'GET',
      `/exports/${exportId}/runs?limit=20`,
    );
    return body.items.filter((r) => r.status === 'running').map((r) => r.runId);
  }

  /** The export's newest run id, if any. */
  async newestRun(exportId: string): Promise<string | undefined> {
    const { body } = await this.call<{ items: { runId: string }[] }>(
      'GET',
      `/exports/${exportId}/runs?limit=1`,
    );
    return body.items[0]?.runId;
  }

  startRun(exportId: string, query: URLSearchParams): Promise<StartedRun> {
    const q = query.toString();
    return this.call<StartedRun>('POST', `/exports/${exportId}/runs${q ? `?${q}` : ''}`).then((r) => r.body);
  }

  getRun(exportId: string, runId: string): Promise<RunStatusView> {
    return this.call<RunStatusView>('GET', `/exports/${exportId}/runs/${runId}`).then((r) => r.body);
  }

  async cancelRun(exportId: string, runId: string): Promise<void> {
    await this.call('POST', `/exports/${exportId}/runs/${runId}/cancel`);
  }

  getReport(exportId: string, runId: string): Promise<Record<string, unknown>> {
    return this.call<Record<string, unknown>>('GET', `/exports/${exportId}/runs/${runId}/report`).then(
      (r) => r.body,
    );
  }

  /** The rejected rows CSV, or `undefined` when the run has none. */
  async getRejected(exportId: string, runId: string): Promise<string | undefined> {
    const res = await this.fetchFn(`${this.base}/exports/${exportId}/runs/${runId}/rejected`);
    if (res.status === 404) return undefined;
    if (!res.ok)
      throw new ApiError(`Downloading the rejected rows: HTTP ${res.status}`, res.status, undefined);
    return res.text();
  }
}
