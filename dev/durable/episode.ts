/**
 * One episode of an instance: take its waiting messages, replay the orchestrator over its history plus
 * the new events, and commit what the replay decided (an ending, or new scheduling rows that are then
 * dispatched). Episodes of one instance never overlap (the engine's `wake` sees to it).
 */
import { type Decisions, flattenActions, type OrchestratorState } from './actions';
import { checkDeterminism } from './determinism';
import type { Endings } from './endings';
import type { EngineCore } from './engineCore';
import { batchRunsOrchestrator, sortBatch, type SortedBatch } from './episodeBatch';
import { errorDetails, jsonText } from './failureDetails';
import { events, type FailureDetails, type HistoryEvent } from './history';
import { invokeOrchestrator } from './orchestratorInvocation';
import type { Runtime } from './runtime';
import { firstStep, retryStep } from './scheduling';
import { type HistoryRow, isTerminal } from './store';
import type { WorkDispatcher } from './workDispatch';

/** What a replay decided, ready to be committed. */
interface EpisodeOutcome {
  state: OrchestratorState | undefined;
  decisions: Decisions | undefined;
  problem: FailureDetails | undefined;
  /** Every row this episode appends before its ending: OrchestratorStarted, new events, scheduling rows. */
  allNew: HistoryRow[];
  /** The scheduling rows among them (dispatched after the commit). */
  scheduled: HistoryRow[];
}

const TERMINAL_MESSAGE_KINDS = new Set(['terminate']);

/** Runs episodes on the engine's shared state. */
export class EpisodeRunner {
  constructor(
    private readonly core: EngineCore,
    private readonly endings: Endings,
    private readonly work: WorkDispatcher,
  ) {}

  /** Runs one episode of the instance over the messages waiting for it. */
  async run(instanceId: string): Promise<void> {
    const { core } = this;
    const pending = core.inbox.get(instanceId);
    if (!pending?.length) return;
    const rt = await core.load(instanceId);
    if (!rt || isTerminal(rt.record.runtimeStatus)) {
      // Messages for a purged or finished instance are dropped (the extension answers 410 to new ones).
      const ids = pending.map((m) => m.id);
      core.inbox.drop(instanceId);
      await core.store.deleteMessages(instanceId, ids);
      return;
    }
    core.stats.episodes += 1;
    const batch = [...pending];
    const now = core.now();

    const terminate = batch.find((m) => TERMINAL_MESSAGE_KINDS.has(m.kind));
    if (terminate) {
      const reason = terminate.reason;
      await this.endings.finish(
        rt,
        'Terminated',
        jsonText(reason),
        batch.map((m) => m.id),
        [events.orchestratorStarted(now), events.executionTerminated(now, reason)],
        { ErrorType: 'Terminated', ErrorMessage: `Instance '${instanceId}' was terminated: ${reason ?? ''}` },
      );
      return;
    }

    const sorted = sortBatch(rt, batch, now);
    if (!batchRunsOrchestrator(sorted)) {
      await this.applyControlOnly(rt, sorted, now);
      return;
    }
    const outcome = await this.replay(rt, sorted, now);
    await this.conclude(rt, outcome, sorted.consumed, now);
  }
  /** An episode with only control changes, stale messages, or nothing applicable yet. */
  private async applyControlOnly(rt: Runtime, sorted: SortedBatch, now: Date): Promise<void> {
    const { consumed, controlEvents, suspended } = sorted;
    const instanceId = rt.record.instanceId;
    if (controlEvents.length > 0) {
      const status = suspended ? 'Suspended' : rt.history.length === 0 ? rt.record.runtimeStatus : 'Running';
      await this.core.persistence.commit(
        rt,
        [events.orchestratorStarted(now), ...controlEvents].map((event) => ({ event })),
        consumed,
        status,
      );
    } else {
      await this.core.persistence.consume(instanceId, consumed);
    }
    if (consumed.length > 0 && !suspended && this.core.inbox.get(instanceId)?.length)
      this.core.dirty.add(instanceId);
  }

  /**
   * Replays the orchestrator over its history plus this episode's events and turns its actions into
   * scheduling rows. Any problem (a failing generator, non-determinism, an oversized payload) is returned,
   * not thrown: it fails the instance.
   */
  private async replay(rt: Runtime, sorted: SortedBatch, now: Date): Promise<EpisodeOutcome> {
    const instanceId = rt.record.instanceId;
    const newEvents: HistoryEvent[] = [...sorted.controlEvents];
    const scheduled: HistoryRow[] = [];
    if (sorted.start) newEvents.push(sorted.start);
    // Retry bookkeeping first: the executor assigns these ids before the generator resumes.
    for (const event of sorted.idAssigning) {
      newEvents.push(event);
      scheduled.push(retryStep(rt, event, now));
    }
    newEvents.push(...sorted.others);

    const orchestratorStarted = events.orchestratorStarted(now);
    const historyForReplay = [...rt.history.map((r) => r.event), orchestratorStarted, ...newEvents];
    const { state, failure } = await invokeOrchestrator(this.core.host, rt, historyForReplay);

    let decisions: Decisions | undefined;
    let problem: FailureDetails | undefined = failure;
    if (state) {
      try {
        decisions = flattenActions(state.actions);
        checkDeterminism(rt, decisions);
      } catch (error) {
        problem = errorDetails(error);
        decisions = undefined;
      }
    }
    let customStatusJson = rt.record.customStatus;
    if (state && !problem) {
      try {
        customStatusJson = jsonText(state.customStatus);
        this.core.checkPayload(instanceId, 'the custom status', customStatusJson);
      } catch (error) {
        problem = errorDetails(error);
      }
    }
    if (decisions && !problem) {
      try {
        for (const [index, leaf] of decisions.leaves.entries()) {
          if (index < rt.leaves.length) continue;
          scheduled.push(
            firstStep(rt, index, leaf, now, (id, what, json) => this.core.checkPayload(id, what, json)),
          );
        }
      } catch (error) {
        problem = errorDetails(error);
      }
    }
    const allNew: HistoryRow[] = [
      { event: orchestratorStarted },
      ...newEvents.map((event) => ({ event })),
      ...scheduled.sort((a, b) => a.event.EventId - b.event.EventId),
    ];
    if (customStatusJson === undefined) delete rt.record.customStatus;
    else rt.record.customStatus = customStatusJson;
    return { state, decisions, problem, allNew, scheduled };
  }

  /** Commits a replay's outcome: failed, continued as new, completed, or running with new work dispatched. */
  private async conclude(rt: Runtime, outcome: EpisodeOutcome, consumed: string[], now: Date): Promise<void> {
    const { state, decisions, problem, allNew, scheduled } = outcome;
    const instanceId = rt.record.instanceId;
    if (problem || !state) {
      const details = problem ?? { ErrorType: 'Error', ErrorMessage: 'The orchestrator returned no state.' };
      const message = `Orchestrator function '${rt.record.name}' failed: ${details.ErrorMessage}`;
      this.core.log(`instance '${instanceId}' failed: ${details.ErrorMessage}`);
      await this.endings.finish(
        rt,
        'Failed',
        JSON.stringify(message),
        consumed,
        [
          ...allNew.map((r) => r.event),
          events.orchestratorCompleted(now),
          events.executionCompleted(now, 'Failed', JSON.stringify(message), details),
        ],
        details,
      );
      return;
    }
    // An oversized final payload fails the execution without an OrchestratorCompleted of its own.
    const failOnPayload = (error: unknown) => {
      const details = errorDetails(error);
      return this.endings.finish(
        rt,
        'Failed',
        JSON.stringify(details.ErrorMessage),
        consumed,
        [...allNew.map((r) => r.event), events.executionCompleted(now, 'Failed', undefined, details)],
        details,
      );
    };
    if (state.isDone && decisions?.continueAsNew) {
      const inputJson = jsonText(decisions.continueAsNew.input);
      try {
        this.core.checkPayload(instanceId, 'the continue-as-new input', inputJson);
      } catch (error) {
        await failOnPayload(error);
        return;
      }
      await this.endings.continueAsNew(rt, inputJson, consumed);
      return;
    }
    if (state.isDone) {
      const outputJson = jsonText(state.output);
      try {
        this.core.checkPayload(instanceId, 'the orchestration output', outputJson);
      } catch (error) {
        await failOnPayload(error);
        return;
      }
      await this.endings.finish(rt, 'Completed', outputJson, consumed, [
        ...allNew.map((r) => r.event),
        events.orchestratorCompleted(now),
        events.executionCompleted(now, 'Completed', outputJson),
      ]);
      return;
    }
    await this.core.persistence.commit(
      rt,
      [...allNew, { event: events.orchestratorCompleted(now) }],
      consumed,
      'Running',
    );
    this.work.dispatch(rt, scheduled);
    if (this.core.inbox.get(instanceId)?.length) this.core.dirty.add(instanceId);
  }
}
