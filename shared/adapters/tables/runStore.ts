/**
 * Runs of exports in the `ExportRuns` table: one row per run (partition = export id, row = run id, which
 * sorts newest first) and one `~state` row per export that holds the run in progress and the follow-up
 * requested while it runs. The state row is changed only with its ETag, so of two triggers that race, one
 * starts the run and the other requests the follow-up.
 */
import type { TableClient } from '@azure/data-tables';
import { z } from 'zod';

import { ConflictError, NotFoundError, statusCodeOf } from '../../errors';
import { RunStatus, RunTrigger } from '../../run/payloads';

const STATE_ROW = '~state';

/** A run's row: what listing runs shows without reading the report. */
export const RunRecord = z.object({
  runId: z.string(),
  exportId: z.string(),
  trigger: RunTrigger,
  dryRun: z.boolean(),
  fullResync: z.boolean(),
  requestedBy: z.string(),
  startedAt: z.string(),
  /** `running` until Finalise sets the final status. */
  status: z.union([z.literal('running'), RunStatus]),
  finishedAt: z.string().optional(),
  durationMs: z.number().optional(),
  /** The report's counts, once finished. */
  counts: z.record(z.string(), z.number()).optional(),
  reason: z.string().optional(),
});
export type RunRecord = z.infer<typeof RunRecord>;

/** A follow-up run asked for while a run was in progress (one at most). */
export const FollowUp = z.object({
  trigger: RunTrigger,
  requestedBy: z.string(),
  fullResync: z.boolean(),
  requestedAt: z.string(),
});
export type FollowUp = z.infer<typeof FollowUp>;

/** An export's run state. */
export const RunState = z.object({
  activeRunId: z.string().nullable(),
  followUp: FollowUp.nullable(),
  /** Snapshot keys (segment + snapshot folder) that already triggered a run: one run per landed snapshot. */
  triggeredSnapshots: z.array(z.string()).max(200),
});
export type RunState = z.infer<typeof RunState>;

const EMPTY_STATE: RunState = { activeRunId: null, followUp: null, triggeredSnapshots: [] };

/** Run ids sort newest first: the time left to a far-off epoch in base 36, then randomness. */
export function newRunId(now: number, random: () => number = Math.random): string {
  const left = (4_102_444_800_000 - now).toString(36).padStart(9, '0');
  const suffix = Math.floor(random() * 36 ** 4)
    .toString(36)
    .padStart(4, '0');
  return `r${left}${suffix}`;
}

/** The runs table of the app. */
export class RunStore {
  private created: Promise<unknown> | undefined;

  constructor(private readonly table: TableClient) {}

  private async ready(): Promise<void> {
    this.created ??= this.table.createTable().catch((error: unknown) => {
      this.created = undefined;
      if (statusCodeOf(error) !== 409) throw error;
    });
    await this.created;
  }

  /** Stores a new run row. */
  async createRun(run: RunRecord): Promise<void> {
    await this.ready();
    await this.table.createEntity({
      partitionKey: run.exportId,
      rowKey: run.runId,
      data: JSON.stringify(run),
    });
  }

  /** Replaces a run's row. */
  async updateRun(run: RunRecord): Promise<void> {
    await this.ready();
    await this.table.upsertEntity(
      { partitionKey: run.exportId, rowKey: run.runId, data: JSON.stringify(RunRecord.parse(run)) },
      'Replace',
    );
  }

  /** One run; throws `NotFoundError`. */
  async getRun(exportId: string, runId: string): Promise<RunRecord> {
    await this.ready();
    try {
      const entity = await this.table.getEntity<{ data: string }>(exportId, runId);
      return RunRecord.parse(JSON.parse(entity.data));
    } catch (error) {
      if (statusCodeOf(error) === 404)
        throw new NotFoundError(`Run ${runId} of export ${exportId} not found`);
      throw error;
    }
  }

  /** An export's runs, newest first, a page at a time. */
  async listRuns(
    exportId: string,
    options: { limit?: number; continuation?: string | null } = {},
  ): Promise<{ items: RunRecord[]; next: string | null }> {
    await this.ready();
    const limit = Math.min(Math.max(options.limit ?? 50, 1), 200);
    const pages = this.table
      .listEntities<{ data: string }>({
        queryOptions: {
          filter: `PartitionKey eq '${exportId.replace(/'/g, "''")}' and RowKey lt '${STATE_ROW}'`,
        },
      })
      .byPage({
        maxPageSize: limit,
        ...(options.continuation ? { continuationToken: options.continuation } : {}),
      });
    for await (const page of pages) {
      return {
        items: page.map((e) => RunRecord.parse(JSON.parse(e.data))),
        next: page.continuationToken ?? null,
      };
    }
    return { items: [], next: null };
  }

  /** An export's run state, with the ETag a change must present. */
  async getState(exportId: string): Promise<{ state: RunState; etag: string | undefined }> {
    await this.ready();
    try {
      const entity = await this.table.getEntity<{ data: string }>(exportId, STATE_ROW);
      return { state: RunState.parse(JSON.parse(entity.data)), etag: entity.etag };
    } catch (error) {
      if (statusCodeOf(error) === 404) return { state: EMPTY_STATE, etag: undefined };
      throw error;
    }
  }

  /** Writes the state if nobody changed it since `etag` was read; throws `ConflictError` otherwise. */
  async putState(exportId: string, state: RunState, etag: string | undefined): Promise<void> {
    await this.ready();
    const entity = { partitionKey: exportId, rowKey: STATE_ROW, data: JSON.stringify(RunState.parse(state)) };
    try {
      if (etag === undefined) await this.table.createEntity(entity);
      else await this.table.updateEntity(entity, 'Replace', { etag });
    } catch (error) {
      const status = statusCodeOf(error);
      if (status === 409 || status === 412)
        throw new ConflictError(`Run state of export ${exportId} changed`);
      throw error;
    }
  }

  /** Applies `change` to the state with optimistic concurrency, retrying on a race (at most 10 times). */
  async changeState<T>(
    exportId: string,
    change: (state: RunState) => { state: RunState; result: T },
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const { state, etag } = await this.getState(exportId);
      const next = change(structuredClone(state));
      try {
        await this.putState(exportId, next.state, etag);
        return next.result;
      } catch (error) {
        if (!(error instanceof ConflictError) || attempt >= 10) throw error;
      }
    }
  }
}
