/**
 * The determinism check: the decisions of a replay must match those recorded in history, position by
 * position, as DTFx checks when it replays TaskScheduled / TimerCreated / SubOrchestrationInstanceCreated.
 */
import { type Decisions, describeLeaf } from './actions';
import { NonDeterministicOrchestrationError } from './errors';
import type { Runtime } from './runtime';

/** Throws `NonDeterministicOrchestrationError` when this replay's decisions differ from the recorded ones. */
export function checkDeterminism(rt: Runtime, decisions: Decisions): void {
  for (const [index, known] of rt.leaves.entries()) {
    const now = decisions.leaves[index];
    const firstId = known.firstId;
    if (!now) {
      throw new NonDeterministicOrchestrationError(
        `A previous execution of orchestration '${rt.record.name}' (instance '${rt.record.instanceId}') scheduled ` +
          `${describeLeaf(known)} with sequence id ${firstId}, but the current replay execution did not schedule it. ` +
          `Orchestrator code must be deterministic (no Date.now(), Math.random(), I/O or changed code for running instances).`,
      );
    }
    const nowName = now.kind === 'timer' ? undefined : now.name;
    if (now.kind !== known.kind || nowName !== known.name) {
      throw new NonDeterministicOrchestrationError(
        `A previous execution of orchestration '${rt.record.name}' (instance '${rt.record.instanceId}') scheduled ` +
          `${describeLeaf(known)} with sequence id ${firstId}, but the current replay execution scheduled ` +
          `${describeLeaf({ kind: now.kind, ...(nowName ? { name: nowName } : {}) })} in its place. ` +
          `Orchestrator code must be deterministic (no Date.now(), Math.random(), I/O or changed code for running instances).`,
      );
    }
  }
}
