/** The Durable function names of an export run, in one place (functions/exportRun.ts registers them). */
export const RUN_FUNCTIONS = {
  /** The orchestrator of one export run (instance id = run id). */
  orchestrator: 'exportRun',
  /** Sub-orchestrator: one push lane, pushing every `lanes`-th slice and reconciling each as the next goes out. */
  pushLane: 'pushLane',
  /** Sub-orchestrator: polls one slice's batches on durable timers and resubmits failed ones. */
  reconcileSlice: 'reconcileSlice',
  /** Activity: load the export, stage its slices and rejected rows, check the guards. */
  prepare: 'prepareRun',
  /** Activity: send (some of) one slice's staged requests with bulk import. */
  pushSlice: 'pushSlice',
  /** Activity: one look at `import/info` for a slice's pending batches. */
  checkSlice: 'checkSlice',
  /** Activity: write the report, advance the snapshot, release the export for its next run. */
  finalise: 'finaliseRun',
} as const;

/** External events an export run waits for. */
export const RUN_EVENTS = {
  /** Stop sending: raised by `POST .../runs/{runId}/cancel`. */
  cancel: 'cancel',
} as const;
