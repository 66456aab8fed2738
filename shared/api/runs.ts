/**
 * The export run's HTTP routes: start a run (or its follow-up), run every scheduled export now, list runs,
 * a run's status with progress and ETA, cancel, the report, and the rejected rows as CSV. Callers need a
 * role that may use the export's connection (admins always; contributors when the connection is shared).
 */
import * as df from 'durable-functions';
import { z } from 'zod';

import { rejectedBlobName, runFolder } from '../adapters/blob/runFolder';
import { RunRecord } from '../adapters/tables/runStore';
import { NotFoundError } from '../errors';
import { type Principal, requireConnectionUse } from '../http';
import type { RunDeps } from '../run/deps';
import { durableStarter } from '../run/durableStarter';
import { LaneProgress, RunProgress } from '../run/payloads';
import { RunReport } from '../run/report';
import { downloadText, failedBlobName, markCanceled, reportBlobName } from '../run/runBlobs';
import { RunView, toRunView } from '../run/runView';
import { startScheduledRuns } from '../run/scheduledRuns';
import { requestRun } from '../run/startRun';
import { type ApiRoute, apiRoute } from './route';
import { IdParams, RecordId } from './schemas';

const route = apiRoute;
const RunId = z.string().regex(/^r[0-9a-z]{12,20}$/, 'must be a run id (as starting a run answered it)');
const ExportParams = IdParams;
const RunParams = z.strictObject({ id: RecordId, runId: RunId });
const flag = z
  .enum(['true', 'false'])
  .optional()
  .transform((v) => v === 'true');

/** The export, after checking the caller may use its connection. */
async function usableExport(deps: RunDeps, principal: Principal, exportId: string) {
  const { record } = await deps.records.exports.get(exportId);
  if (record.connectionId) {
    const { record: connection } = await deps.records.connections.get(record.connectionId);
    requireConnectionUse(principal, connection);
  } else if (!principal.roles.has('Admin')) {
    requireConnectionUse(principal, { id: '(none)', allowContributors: false });
  }
  return record;
}

const durable = [df.input.durableClient()];
const baseUrlOf = (url: string) => new URL(url).origin;

const StartedRun = z.object({
  runId: z.string(),
  outcome: z.enum(['started', 'followUpRequested']),
  /** For a follow-up: it had been asked for already (a trigger during a run gives exactly one follow-up). */
  alreadyRequested: z.boolean().optional(),
  statusUrl: z.string(),
});

/** Every run route, in the order the OpenAPI document lists them. */
export const runRoutes: ApiRoute[] = [
  route({
    name: 'startRun',
    method: 'POST',
    route: 'exports/{id:guid}/runs',
    tag: 'runs',
    summary: 'Run an export now (or ask for one follow-up run if it is running)',
    description:
      'Answers 202 with the run id and its status URL. While a run of the export is in progress, asks for exactly one follow-up run instead (outcome `followUpRequested`, the running run id). `dryRun=true` reports the plan and sends nothing; `fullResync=true` ignores the snapshot and sends every contact; `confirmUnsubscribes=<count>` confirms a mirror-mode unsubscribe count above EXPORT_MIRROR_MAX_UNSUBSCRIBE_SHARE.',
    roles: ['Admin', 'Contributor'],
    params: ExportParams,
    query: z.strictObject({
      dryRun: flag,
      fullResync: flag,
      confirmUnsubscribes: z.coerce.number().int().nonnegative().optional(),
    }),
    response: { status: 202, description: 'Run started, or follow-up requested', schema: StartedRun },
    errors: [404],
    extraInputs: durable,
    async handler({ params, query, principal, services, context, request }) {
      await usableExport(services.run, principal, params.id);
      const result = await requestRun(
        services.run,
        {
          exportId: params.id,
          trigger: 'http',
          requestedBy: principal.name,
          dryRun: query.dryRun,
          fullResync: query.fullResync,
          ...(query.confirmUnsubscribes === undefined
            ? {}
            : { confirmUnsubscribes: query.confirmUnsubscribes }),
        },
        durableStarter(df.getClient(context)),
      );
      const statusUrl = `${baseUrlOf(request.url)}/api/exports/${encodeURIComponent(params.id)}/runs/${result.runId}`;
      return {
        status: 202,
        headers: { location: statusUrl },
        body: { ...result, statusUrl },
      };
    },
  }),
  route({
    name: 'runAll',
    method: 'POST',
    route: 'exports/run-all',
    tag: 'runs',
    summary: 'Run every export whose schedule is `refresh`, now',
    roles: ['Admin', 'Contributor'],
    response: {
      status: 202,
      description: 'What was started per export',
      schema: z.object({
        items: z.array(
          z.object({
            exportId: z.string(),
            outcome: z.string(),
            runId: z.string().optional(),
            reason: z.string().optional(),
          }),
        ),
      }),
    },
    extraInputs: durable,
    async handler({ principal, services, context }) {
      const items = await startScheduledRuns(services.run, durableStarter(df.getClient(context)), {
        trigger: 'runAll',
        requestedBy: principal.name,
        mayUse: (connection) => principal.roles.has('Admin') || connection.allowContributors,
      });
      return { status: 202, body: { items } };
    },
  }),
  route({
    name: 'listRuns',
    method: 'GET',
    route: 'exports/{id:guid}/runs',
    tag: 'runs',
    summary: "An export's runs, newest first",
    roles: ['Admin', 'Contributor'],
    params: ExportParams,
    query: z.strictObject({
      limit: z.coerce.number().int().min(1).max(200).optional(),
      continuation: z.string().max(2000).optional(),
    }),
    response: {
      status: 200,
      description: 'Runs',
      schema: z.object({ items: z.array(RunRecord), next: z.string().nullable() }),
    },
    errors: [404],
    async handler({ params, query, principal, services }) {
      await usableExport(services.run, principal, params.id);
      return { body: await services.run.runs.listRuns(params.id, query) };
    },
  }),
  route({
    name: 'getRun',
    method: 'GET',
    route: 'exports/{id:guid}/runs/{runId}',
    tag: 'runs',
    summary: 'A run: status, stage, trigger, progress, counts and ETA',
    roles: ['Admin', 'Contributor'],
    params: RunParams,
    response: { status: 200, description: 'The run', schema: RunView },
    errors: [404],
    extraInputs: durable,
    async handler({ params, principal, services, context, request }) {
      await usableExport(services.run, principal, params.id);
      const record = await services.run.runs.getRun(params.id, params.runId);
      let customStatus: unknown;
      if (record.status === 'running') {
        const client = df.getClient(context);
        const statusOf = (id: string) =>
          client
            .getStatus(id)
            .then((s) => s.customStatus)
            .catch(() => undefined);
        customStatus = await statusOf(params.runId);
        // While pushing, each lane (a sub-orchestration) keeps its own progress: sum them.
        const progress = RunProgress.safeParse(customStatus);
        if (progress.success && progress.data.lanes && progress.data.stage === 'pushing') {
          const lanes = await Promise.all(
            Array.from({ length: progress.data.lanes }, (_, i) => statusOf(`${params.runId}-lane-${i + 1}`)),
          );
          const sum = { slicesPushed: 0, slicesReconciled: 0, confirmed: 0, failed: 0 };
          for (const lane of lanes) {
            const parsed = LaneProgress.safeParse(lane);
            if (!parsed.success) continue;
            for (const key of Object.keys(sum) as (keyof typeof sum)[]) sum[key] += parsed.data[key];
          }
          customStatus = { ...progress.data, ...sum };
        }
      }
      return { body: toRunView(record, customStatus, services.run.now(), baseUrlOf(request.url)) };
    },
  }),
  route({
    name: 'cancelRun',
    method: 'POST',
    route: 'exports/{id:guid}/runs/{runId}/cancel',
    tag: 'runs',
    summary: 'Cancel a run: nothing more is sent; what was sent is still reconciled and reported',
    roles: ['Admin', 'Contributor'],
    params: RunParams,
    response: {
      status: 202,
      description: 'Cancel requested',
      schema: z.object({ runId: z.string(), status: z.string() }),
    },
    errors: [404, 409],
    async handler({ params, principal, services }) {
      await usableExport(services.run, principal, params.id);
      const record = await services.run.runs.getRun(params.id, params.runId);
      if (record.status !== 'running')
        return { status: 200, body: { runId: params.runId, status: record.status } };
      await markCanceled(services.run.work, runFolder(params.id, params.runId), principal.name);
      return { status: 202, body: { runId: params.runId, status: 'canceling' } };
    },
  }),
  route({
    name: 'getRunReport',
    method: 'GET',
    route: 'exports/{id:guid}/runs/{runId}/report',
    tag: 'runs',
    summary: "A finished run's report",
    roles: ['Admin', 'Contributor'],
    params: RunParams,
    response: { status: 200, description: 'The report', schema: RunReport },
    errors: [404],
    async handler({ params, principal, services }) {
      await usableExport(services.run, principal, params.id);
      await services.run.runs.getRun(params.id, params.runId);
      const text = await downloadText(services.run.work, reportBlobName(runFolder(params.id, params.runId)));
      if (text === undefined)
        throw new NotFoundError(`Run ${params.runId} has no report yet (it is still running)`);
      return { body: RunReport.parse(JSON.parse(text)) };
    },
  }),
  route({
    name: 'getRunRejected',
    method: 'GET',
    route: 'exports/{id:guid}/runs/{runId}/rejected',
    tag: 'runs',
    summary:
      'The rejected rows of a run as CSV (file, line, email, reason, detail), then the contacts ActiveCampaign did not confirm',
    roles: ['Admin', 'Contributor'],
    params: RunParams,
    response: { status: 200, description: 'text/csv' },
    errors: [404],
    async handler({ params, principal, services }) {
      await usableExport(services.run, principal, params.id);
      await services.run.runs.getRun(params.id, params.runId);
      const folder = runFolder(params.id, params.runId);
      const work = services.run.work;
      const rejected = work.getBlobClient(rejectedBlobName(folder));
      if (!(await rejected.exists()))
        throw new NotFoundError(`Run ${params.runId} has no rejected rows file yet`);
      // Read whole: without `enableHttpStream` (which the Functions host offers only as an app-wide opt-in),
      // the host buffers a response body anyway. failed.csv has the same columns; its header is dropped.
      const [rows, failed] = await Promise.all([
        rejected.downloadToBuffer(),
        downloadText(work, failedBlobName(folder)),
      ]);
      const csv = failed
        ? Buffer.concat([rows, Buffer.from(failed.slice(failed.indexOf('\n') + 1), 'utf8')])
        : rows;
      return {
        raw: {
          body: csv,
          contentType: 'text/csv; charset=utf-8',
          headers: { 'content-disposition': `attachment; filename="${params.runId}-rejected.csv"` },
        },
      };
    },
  }),
];
