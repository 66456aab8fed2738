/**
 * Durable Task history events in the wire shape the `durable-functions` replay executor reads
 * (node_modules/durable-functions/lib/src/history/*.js): PascalCase fields, `EventType` numbers from
 * `HistoryEventType`, results/inputs as JSON text, timestamps as ISO strings (the library turns every
 * `Timestamp` into a Date in `Utils.parseTimestampsAsDates`).
 */

/** `HistoryEventType` of durable-functions v3 (lib/src/history/HistoryEventType.js). */
export const EventType = {
  ExecutionStarted: 0,
  ExecutionCompleted: 1,
  ExecutionFailed: 2,
  ExecutionTerminated: 3,
  TaskScheduled: 4,
  TaskCompleted: 5,
  TaskFailed: 6,
  SubOrchestrationInstanceCreated: 7,
  SubOrchestrationInstanceCompleted: 8,
  SubOrchestrationInstanceFailed: 9,
  TimerCreated: 10,
  TimerFired: 11,
  OrchestratorStarted: 12,
  OrchestratorCompleted: 13,
  EventSent: 14,
  EventRaised: 15,
  ContinueAsNew: 16,
  GenericEvent: 17,
  HistoryState: 18,
  ExecutionSuspended: 19,
  ExecutionResumed: 20,
} as const;

export type EventTypeNumber = (typeof EventType)[keyof typeof EventType];

/** Name of an event type number, e.g. 4 -> 'TaskScheduled'. */
export function eventTypeName(type: number): string {
  for (const [name, value] of Object.entries(EventType)) if (value === type) return name;
  return `Unknown(${type})`;
}

/** One history event. Extra fields depend on the type (Name, Input, Result, TaskScheduledId, ...). */
export interface HistoryEvent {
  EventType: EventTypeNumber;
  EventId: number;
  IsPlayed: boolean;
  Timestamp: string;
  [field: string]: unknown;
}

/** Failure details in the wire shape of `FailureDetailsPayload` (lib/src/history/FailureDetailsPayload.js). */
export interface FailureDetails {
  ErrorType: string;
  ErrorMessage: string;
  StackTrace?: string;
  IsNonRetriable?: boolean;
  Properties?: Record<string, unknown>;
  InnerFailure?: FailureDetails;
}

function base(type: EventTypeNumber, timestamp: Date, eventId = -1): HistoryEvent {
  return { EventType: type, EventId: eventId, IsPlayed: false, Timestamp: timestamp.toISOString() };
}

/** Builders for every event the backend writes. `json` arguments are JSON text (or undefined for none). */
export const events = {
  orchestratorStarted: (at: Date): HistoryEvent => base(EventType.OrchestratorStarted, at),
  orchestratorCompleted: (at: Date): HistoryEvent => base(EventType.OrchestratorCompleted, at),
  executionStarted: (
    at: Date,
    name: string,
    inputJson: string | undefined,
    parent?: { instanceId: string; taskScheduledId: number },
  ): HistoryEvent => ({
    ...base(EventType.ExecutionStarted, at),
    Name: name,
    Input: inputJson,
    Version: '',
    ...(parent
      ? {
          ParentInstance: {
            OrchestrationInstance: { InstanceId: parent.instanceId },
            TaskScheduleId: parent.taskScheduledId,
          },
        }
      : {}),
  }),
  executionCompleted: (
    at: Date,
    status: 'Completed' | 'Failed',
    resultJson: string | undefined,
    failureDetails?: FailureDetails,
  ): HistoryEvent => ({
    ...base(EventType.ExecutionCompleted, at),
    OrchestrationStatus: status,
    Result: resultJson,
    ...(failureDetails ? { FailureDetails: failureDetails } : {}),
  }),
  executionTerminated: (at: Date, reason: string | undefined): HistoryEvent => ({
    ...base(EventType.ExecutionTerminated, at),
    Input: reason,
  }),
  continueAsNew: (at: Date, inputJson: string | undefined): HistoryEvent => ({
    ...base(EventType.ContinueAsNew, at),
    OrchestrationStatus: 'ContinuedAsNew',
    Result: inputJson,
  }),
  executionSuspended: (at: Date, reason: string | undefined): HistoryEvent => ({
    ...base(EventType.ExecutionSuspended, at),
    Reason: reason,
  }),
  executionResumed: (at: Date, reason: string | undefined): HistoryEvent => ({
    ...base(EventType.ExecutionResumed, at),
    Reason: reason,
  }),
  taskScheduled: (at: Date, id: number, name: string, inputJson: string | undefined): HistoryEvent => ({
    ...base(EventType.TaskScheduled, at, id),
    Name: name,
    Input: inputJson,
  }),
  taskCompleted: (at: Date, taskScheduledId: number, resultJson: string): HistoryEvent => ({
    ...base(EventType.TaskCompleted, at),
    TaskScheduledId: taskScheduledId,
    Result: resultJson,
  }),
  taskFailed: (at: Date, taskScheduledId: number, failure: FailureDetails): HistoryEvent => ({
    ...base(EventType.TaskFailed, at),
    TaskScheduledId: taskScheduledId,
    Reason: failure.ErrorMessage,
    Details: failure.StackTrace ?? '',
    FailureDetails: failure,
  }),
  subOrchestrationCreated: (
    at: Date,
    id: number,
    name: string,
    instanceId: string,
    inputJson: string | undefined,
  ): HistoryEvent => ({
    ...base(EventType.SubOrchestrationInstanceCreated, at, id),
    Name: name,
    InstanceId: instanceId,
    Input: inputJson,
  }),
  subOrchestrationCompleted: (at: Date, taskScheduledId: number, resultJson: string): HistoryEvent => ({
    ...base(EventType.SubOrchestrationInstanceCompleted, at),
    TaskScheduledId: taskScheduledId,
    Result: resultJson,
  }),
  subOrchestrationFailed: (at: Date, taskScheduledId: number, failure: FailureDetails): HistoryEvent => ({
    ...base(EventType.SubOrchestrationInstanceFailed, at),
    TaskScheduledId: taskScheduledId,
    Reason: failure.ErrorMessage,
    Details: failure.StackTrace ?? '',
    FailureDetails: failure,
  }),
  timerCreated: (at: Date, id: number, fireAt: Date): HistoryEvent => ({
    ...base(EventType.TimerCreated, at, id),
    FireAt: fireAt.toISOString(),
  }),
  timerFired: (at: Date, timerId: number, fireAt: string): HistoryEvent => ({
    ...base(EventType.TimerFired, at),
    TimerId: timerId,
    FireAt: fireAt,
  }),
  eventRaised: (at: Date, name: string, inputJson: string | undefined): HistoryEvent => ({
    ...base(EventType.EventRaised, at),
    Name: name,
    Input: inputJson,
  }),
};

/** The id a completion event refers to (TaskScheduledId / TimerId), or undefined for other events. */
export function completedId(event: HistoryEvent): number | undefined {
  switch (event.EventType) {
    case EventType.TaskCompleted:
    case EventType.TaskFailed:
    case EventType.SubOrchestrationInstanceCompleted:
    case EventType.SubOrchestrationInstanceFailed:
      return event.TaskScheduledId as number;
    case EventType.TimerFired:
      return event.TimerId as number;
    default:
      return undefined;
  }
}
