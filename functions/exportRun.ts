import type { InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';

import { getConfig } from '../shared/config';
import { checkSlice } from '../shared/run/check';
import { activityLogger, runDepsFromConfig } from '../shared/run/deps';
import { durableStarter } from '../shared/run/durableStarter';
import { finaliseRun } from '../shared/run/finalise';
import { RUN_FUNCTIONS } from '../shared/run/names';
import {
  exportRunOrchestrator,
  pushLaneOrchestrator,
  reconcileSliceOrchestrator,
} from '../shared/run/orchestrator';
import { prepareRun } from '../shared/run/prepare';
import { pushSlice } from '../shared/run/push';

const deps = () => runDepsFromConfig(getConfig());

/** Activity: Prepare (stage slices and rejected rows, apply the guards). */
export function prepare(input: unknown, context: InvocationContext) {
  return prepareRun(input, deps(), activityLogger(context, input));
}

/** Activity: Push one slice (or some of its requests again). */
export function push(input: unknown, context: InvocationContext) {
  return pushSlice(input, deps(), activityLogger(context, input));
}

/** Activity: one look at a slice's batches. */
export function check(input: unknown, context: InvocationContext) {
  return checkSlice(input, deps(), activityLogger(context, input));
}

/** Activity: Finalise (report, snapshot, release the export / start its follow-up). */
export function finalise(input: unknown, context: InvocationContext) {
  return finaliseRun(input, deps(), durableStarter(df.getClient(context)), activityLogger(context, input));
}

df.app.orchestration(RUN_FUNCTIONS.orchestrator, exportRunOrchestrator);
df.app.orchestration(RUN_FUNCTIONS.pushLane, pushLaneOrchestrator);
df.app.orchestration(RUN_FUNCTIONS.reconcileSlice, reconcileSliceOrchestrator);
df.app.activity(RUN_FUNCTIONS.prepare, { handler: prepare });
df.app.activity(RUN_FUNCTIONS.pushSlice, { handler: push });
df.app.activity(RUN_FUNCTIONS.checkSlice, { handler: check });
df.app.activity(RUN_FUNCTIONS.finalise, { extraInputs: [df.input.durableClient()], handler: finalise });
