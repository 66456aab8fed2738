/**
 * Runs of one export: the history (status, trigger, started, duration, counts) and one run's live view
 * (progress bar, rate and ETA while running, "Cancel"), then its report, the rejected rows download, and a
 * mirror run stopped for confirmation with the count and a button that confirms exactly that count.
 */
import { useEffect, useState } from 'preact/hooks';

import { api, type Export, type RunRecord, type RunReport, type RunView } from './api';
import { formatDuration, formatTime } from './fields';
import { unsubscribesToConfirm } from './guard';
import { runStatusWords } from './status';

/** How often a running run is polled (the status route is cheap: a table read and the custom status). */
const POLL_MS = 1000;

/** The runs screen of one export. */
export function RunsScreen(props: {
  definition: Export;
  runId: string | undefined;
  select: (runId: string | undefined) => void;
  back: () => void;
  notify: (message: string) => void;
}) {
  const { definition } = props;
  const [runs, setRuns] = useState<RunRecord[] | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [refresh, setRefresh] = useState(0);

  useEffect(() => {
    api.runs(definition.id).then(
      (page) => setRuns(page.items),
      (error: unknown) => setProblem(error instanceof Error ? error.message : String(error)),
    );
  }, [definition.id, refresh, props.runId]);

  return (
    <section aria-labelledby="runs-title">
      <div class="section-head">
        <h2 id="runs-title">Runs of {definition.name}</h2>
        <button type="button" onClick={props.back}>
          Back to exports
        </button>
      </div>
      {problem ? (
        <p class="field-error" role="alert">
          {problem}
        </p>
      ) : null}
      {props.runId ? (
        <RunDetail
          key={props.runId}
          definition={definition}
          runId={props.runId}
          onFinished={() => setRefresh((n) => n + 1)}
          onStarted={(runId) => props.select(runId)}
          notify={props.notify}
        />
      ) : null}
      <h3>History</h3>
      {runs === null ? (
        <p role="status">Loading runs…</p>
      ) : runs.length === 0 ? (
        <p class="empty">This export has not run yet.</p>
      ) : (
        <table class="list" aria-label={`Runs of ${definition.name}`}>
          <thead>
            <tr>
              <th scope="col">Status</th>
              <th scope="col">Trigger</th>
              <th scope="col">Started</th>
              <th scope="col">Duration</th>
              <th scope="col">Sent</th>
              <th scope="col">Confirmed</th>
              <th scope="col">Failed</th>
              <th scope="col">Rejected</th>
              <th scope="col">Details</th>
            </tr>
          </thead>
          <tbody>
            {runs.map((run) => (
              <tr key={run.runId} aria-current={run.runId === props.runId ? 'true' : undefined}>
                <td data-label="Status">
                  <span class={`status status-${run.status}`}>{runStatusWords(run.status)}</span>
                  {run.dryRun ? ' (dry run)' : ''}
                </td>
                <td data-label="Trigger">{run.trigger}</td>
                <td data-label="Started">{formatTime(run.startedAt)}</td>
                <td data-label="Duration">{formatDuration(run.durationMs)}</td>
                <td data-label="Sent">{run.counts?.sent ?? '—'}</td>
                <td data-label="Confirmed">{run.counts?.confirmed ?? '—'}</td>
                <td data-label="Failed">{run.counts?.failed ?? '—'}</td>
                <td data-label="Rejected">{run.counts?.rejected ?? '—'}</td>
                <td data-label="Details">
                  <button
                    type="button"
                    aria-label={`Show run started ${formatTime(run.startedAt)}`}
                    onClick={() => props.select(run.runId)}
                  >
                    Show
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function RunDetail(props: {
  definition: Export;
  runId: string;
  onFinished: () => void;
  onStarted: (runId: string) => void;
  notify: (message: string) => void;
}) {
  const { definition, runId } = props;
  const [run, setRun] = useState<RunView | null>(null);
  const [report, setReport] = useState<RunReport | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [canceling, setCanceling] = useState(false);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      try {
        const view = await api.run(definition.id, runId);
        if (stopped) return;
        setRun(view);
        if (view.status === 'running') {
          timer = setTimeout(() => void poll(), POLL_MS);
          return;
        }
        props.onFinished();
        const finished = await api.report(definition.id, runId);
        if (!stopped) setReport(finished);
      } catch (error) {
        if (!stopped) setProblem(error instanceof Error ? error.message : String(error));
      }
    };
    void poll();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }, [definition.id, runId]);

  const cancel = async () => {
    setCanceling(true);
    try {
      const answer = await api.cancelRun(definition.id, runId);
      props.notify(
        answer.status === 'canceling'
          ? 'Cancel requested: nothing more will be sent'
          : `The run is ${answer.status}`,
      );
    } catch (error) {
      setProblem(error instanceof Error ? error.message : String(error));
      setCanceling(false);
    }
  };

  const confirmCount = report ? unsubscribesToConfirm(report) : undefined;
  const confirm = async (count: number) => {
    try {
      const started = await api.startRun(definition.id, { confirmUnsubscribes: count });
      props.notify(`Run started with ${count} unsubscribes confirmed`);
      props.onStarted(started.runId);
    } catch (error) {
      setProblem(error instanceof Error ? error.message : String(error));
    }
  };

  const p = run?.progress;
  return (
    <div class="card" aria-labelledby="run-title">
      <h3 id="run-title">
        Run {runId}
        {run?.dryRun ? ' (dry run)' : ''}
      </h3>
      {problem ? (
        <p class="field-error" role="alert">
          {problem}
        </p>
      ) : null}
      {run && p ? (
        <>
          <p>
            Status:{' '}
            <span class={`status status-${run.status}`} data-testid="run-status" data-status={run.status}>
              {runStatusWords(run.status)}
            </span>
            {run.status === 'running' ? ` · stage ${run.stage}` : ''} · trigger {run.trigger} · started{' '}
            {formatTime(run.startedAt)} by {run.requestedBy}
          </p>
          <label for="run-progress">Progress</label>
          <div class="progress-line">
            <progress
              id="run-progress"
              max={100}
              value={p.percent ?? undefined}
              aria-valuetext={p.percent === null ? 'not known yet' : `${p.percent}%`}
            />
            <span data-testid="run-percent">{p.percent === null ? '…' : `${p.percent}%`}</span>
          </div>
          <p role="status">
            {p.confirmed} confirmed
            {p.failed ? `, ${p.failed} failed` : ''}
            {p.total !== null ? ` of ${p.total} to send` : ''}
            {run.status === 'running' && p.ratePerSecond !== null ? ` · ${p.ratePerSecond} contacts/s` : ''}
            {run.status === 'running' && p.etaSeconds !== null
              ? ` · about ${formatDuration(p.etaSeconds * 1000)} left`
              : ''}
          </p>
          {run.status === 'running' ? (
            <button type="button" class="danger" disabled={canceling} onClick={() => void cancel()}>
              {canceling ? 'Canceling…' : 'Cancel'}
            </button>
          ) : null}
        </>
      ) : problem ? null : (
        <p role="status">Loading the run…</p>
      )}
      {report ? (
        <RunReportView
          report={report}
          rejectedUrl={api.rejectedUrl(definition.id, runId)}
          confirmCount={confirmCount}
          onConfirm={(count) => void confirm(count)}
        />
      ) : null}
    </div>
  );
}

function RunReportView(props: {
  report: RunReport;
  rejectedUrl: string;
  confirmCount: number | undefined;
  onConfirm: (count: number) => void;
}) {
  const { report } = props;
  const c = report.counts;
  return (
    <div class="report">
      <h4>Report</h4>
      {report.reason ? (
        <p class={report.status === 'succeeded' ? 'hint' : 'warning'}>
          {report.code ? `${report.code}: ` : ''}
          {report.reason}
        </p>
      ) : null}
      {props.confirmCount !== undefined ? (
        <div class="inline-alert" role="alert">
          <p>
            This mirror run would unsubscribe{' '}
            <strong data-testid="unsubscribe-count">{props.confirmCount}</strong> contacts from list{' '}
            {report.listId}. Nothing was sent.
          </p>
          <button type="button" class="danger" onClick={() => props.onConfirm(props.confirmCount!)}>
            Confirm and unsubscribe {props.confirmCount} contacts
          </button>
        </div>
      ) : null}
      <dl class="counts">
        <dt>Rows read</dt>
        <dd>{c.rows}</dd>
        <dt>Valid contacts</dt>
        <dd>{c.valid}</dd>
        <dt>Rejected rows</dt>
        <dd>{c.rejected}</dd>
        <dt>Duplicates</dt>
        <dd>{c.duplicates}</dd>
        <dt>Unchanged</dt>
        <dd>{c.unchanged}</dd>
        <dt>Sent</dt>
        <dd>{c.sent}</dd>
        <dt>Confirmed</dt>
        <dd>{c.confirmed}</dd>
        <dt>Failed</dt>
        <dd>{c.failed}</dd>
        <dt>Not sent</dt>
        <dd>{c.notSent}</dd>
        <dt>Unsubscribed</dt>
        <dd>{c.unsubscribed}</dd>
        <dt>Plan</dt>
        <dd>
          {report.plan.adds} to add, {report.plan.updates} to update, {report.plan.unsubscribes} to
          unsubscribe
        </dd>
        <dt>Duration</dt>
        <dd>{formatDuration(report.durationMs)}</dd>
        <dt>Requests</dt>
        <dd>
          {report.requests.bulkImport} bulk imports, {report.requests.importInfo} status checks,{' '}
          {report.requests.throttled} throttled
        </dd>
      </dl>
      <p>
        <a href={props.rejectedUrl} download>
          Download rejected rows (CSV)
        </a>
      </p>
    </div>
  );
}
