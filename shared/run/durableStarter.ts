/** The run's `StartOrchestration` over a Durable client (`df.getClient(context)`). */
import * as df from 'durable-functions';

import type { StartOrchestration } from './startRun';

const RUNNING = new Set<string>([
  df.OrchestrationRuntimeStatus.Running,
  df.OrchestrationRuntimeStatus.Pending,
  df.OrchestrationRuntimeStatus.ContinuedAsNew,
  df.OrchestrationRuntimeStatus.Suspended,
]);

/** Starts and looks up orchestration instances through `client`. */
export function durableStarter(client: df.DurableClient): StartOrchestration {
  return {
    async start(name, instanceId, input) {
      await client.startNew(name, { instanceId, input });
    },
    async isRunning(instanceId) {
      try {
        const status = await client.getStatus(instanceId);
        return RUNNING.has(status.runtimeStatus);
      } catch {
        // getStatus throws when the instance does not exist: nothing is running under that id.
        return false;
      }
    },
  };
}
