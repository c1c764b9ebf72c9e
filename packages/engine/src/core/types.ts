/**
 * The engine core's data: instance state, events in, commands out. All plain JSON so the runner can
 * journal events, snapshot state and replay one into the other.
 */
import type { InDoubtPolicy, Json, JsonObject } from '@takt/workflow';

export type InstanceStatus =
  | 'running'
  | 'holding'
  | 'held'
  | 'stopping'
  | 'stopped'
  | 'aborting'
  | 'aborted'
  | 'compensating'
  | 'cancelled'
  | 'succeeded'
  | 'failed';

export const terminalStatuses: ReadonlySet<InstanceStatus> = new Set([
  'stopped',
  'aborted',
  'cancelled',
  'succeeded',
  'failed',
]);

/** An error as workflows see it (`error` in handler scope). */
export interface StepError {
  code: string;
  message: string;
  retryable: boolean;
  stepId?: string;
  details?: JsonObject;
}

export type Activity =
  | { kind: 'entering' }
  | { kind: 'paused' }
  | { kind: 'acquiring'; requests: string[]; forInstance: boolean }
  | { kind: 'dispatched'; commandId: string }
  | { kind: 'readBack'; commandId: string; writeCommandId: string }
  | { kind: 'inDoubt'; commandId: string; taskId: string }
  | { kind: 'retryWait'; timerId: string }
  | { kind: 'timer'; timerId: string }
  | { kind: 'condition' }
  | { kind: 'event'; name: string }
  | { kind: 'approval'; taskId: string }
  | { kind: 'phase'; commandId: string; started: boolean }
  | { kind: 'child'; childId: string }
  | { kind: 'joining' }
  | { kind: 'compensating' }
  | { kind: 'done' };

export interface JoinState {
  kind: 'parallel' | 'forEach';
  children: string[];
  /** Results by branch/item index (undefined until done). */
  results: (Json | undefined)[];
  finished: boolean[];
  need: number;
  doneCount: number;
  /** forEach only. */
  items?: Json[];
  nextIndex?: number;
  concurrency?: number;
}

export type ThreadRole = 'main' | 'branch' | 'iteration' | 'compensation' | 'abort';

export interface ThreadState {
  id: string;
  role: ThreadRole;
  parentId?: string;
  /** Branch or item index in the parent's join. */
  slot?: number;
  stepId: string;
  status: 'running' | 'done' | 'failed' | 'cancelled';
  activity: Activity;
  attempt: number;
  failures: number;
  stepStartedAtMs: number;
  locals: JsonObject;
  result?: Json;
  error?: StepError;
  join?: JoinState;
  /** Escalations already fired for the current step (indexes). */
  escalated: number[];
}

export interface TimerState {
  threadId: string;
  dueAtMs: number;
  purpose: 'timeout' | 'retry' | 'wait' | 'escalate' | 'workflow' | 'resource';
  index?: number;
}

export interface HeldResource {
  resource: string;
  /** `instance` or the thread whose current step holds it. */
  scope: string;
  granted: boolean;
  priority: number;
  requestedAtMs: number;
}

export interface CompensationRecord {
  stepId: string;
  handler: string;
  threadId: string;
  result?: Json;
  locals: JsonObject;
}

export interface CompensationRun {
  /** Remaining records, next first (reverse completion order). */
  queue: CompensationRecord[];
  /** Thread waiting for the compensations (catch with compensate), if any. */
  waitingThreadId?: string;
  /** What happens after the last one. */
  then: 'cancelled' | 'failed' | 'resumeThread';
  failures: StepError[];
}

export interface InstanceState {
  instanceId: string;
  workflowId: string;
  workflowVersion: string;
  definitionHash: string;
  status: InstanceStatus;
  params: JsonObject;
  vars: JsonObject;
  tags: JsonObject;
  threads: Record<string, ThreadState>;
  timers: Record<string, TimerState>;
  /** Resource requests and holdings by request id. */
  resources: Record<string, HeldResource>;
  /** Dispatched commands awaiting a result: command id → thread id. */
  pending: Record<string, string>;
  /**
   * The outbox of side effects: every dispatch still awaiting its result, as dispatched. Part of the
   * state, so it is journaled with the transition that produced it and re-dispatched after a crash
   * under its original idempotency key (or settled as in doubt).
   */
  outbox: Record<string, Extract<Command, { type: 'dispatch' }>>;
  /** Open human tasks: task id → thread id (or `instance`). */
  tasks: Record<string, string>;
  /** Signals that arrived before anyone waited for them. */
  mailbox: { name: string; payload: Json }[];
  compensations: CompensationRecord[];
  compensation?: CompensationRun;
  control: { hold: boolean; stop: boolean; holdReason?: string };
  /** Interlocks currently breached (keys `instance:i` or `<stepId>:i`). */
  breached: string[];
  counter: number;
  /** Events applied so far (the journal sequence number of the last one). */
  seq: number;
  createdAtMs: number;
  updatedAtMs: number;
  parent?: { instanceId: string; childId: string };
  idempotencyKey?: string;
  output?: JsonObject;
  error?: StepError;
  abort?: { code: string; reason: string };
}

// ---------------------------------------------------------------------------------------------- events

interface EventBase {
  /** When the event is applied (injected clock, epoch ms). */
  atMs: number;
}

export type EngineEvent = EventBase &
  (
    | {
        type: 'start';
        instanceId: string;
        definitionHash: string;
        params: JsonObject;
        /** Tag values known at start (interlocks are checked before the first step). */
        tags?: JsonObject;
        idempotencyKey?: string;
        parent?: { instanceId: string; childId: string };
      }
    | { type: 'result'; commandId: string; ok: true; value?: Json }
    | { type: 'result'; commandId: string; ok: false; error: StepError }
    | { type: 'timer'; timerId: string }
    | { type: 'signal'; name: string; payload?: Json }
    | { type: 'tags'; values: JsonObject }
    | { type: 'approve'; taskId: string; user: string; role: string; signature?: JsonObject; comment?: string }
    | { type: 'reject'; taskId: string; user: string; role: string; signature?: JsonObject; comment?: string }
    | { type: 'resolve'; taskId: string; outcome: 'succeeded' | 'retry' | 'failed'; user: string; value?: Json }
    | { type: 'granted'; requestId: string }
    | { type: 'inDoubt'; commandId: string }
    | { type: 'phase'; commandId: string; state: string; data?: Json }
    | { type: 'child'; childId: string; ok: true; value?: Json }
    | { type: 'child'; childId: string; ok: false; error: StepError }
    | { type: 'hold'; reason?: string; user?: string }
    | { type: 'restart'; user?: string }
    | { type: 'stop'; reason?: string; user?: string }
    | { type: 'abort'; reason?: string; user?: string; code?: string }
    | { type: 'cancel'; reason?: string; user?: string }
  );

export type EngineEventType = EngineEvent['type'];

// ---------------------------------------------------------------------------------------------- commands

/** Side effects the runner carries out after the transition is committed. */
export type Command =
  | {
      type: 'dispatch';
      commandId: string;
      /** `<instance>:<thread>:<step>:<attempt>` — the same for every re-dispatch of this attempt. */
      idempotencyKey: string;
      instanceId: string;
      stepId: string;
      attempt: number;
      action: string;
      args: JsonObject;
      /** Set for device writes and calls: how to settle the outcome if a crash loses it. */
      inDoubt?: InDoubtPolicy;
      timeoutMs?: number;
    }
  | { type: 'timer.set'; timerId: string; instanceId: string; dueAtMs: number }
  | { type: 'timer.cancel'; timerId: string; instanceId: string }
  | {
      type: 'acquire';
      requestId: string;
      instanceId: string;
      resource: string;
      priority: number;
      requestedAtMs: number;
    }
  | { type: 'release'; requestId: string; instanceId: string; resource: string }
  | {
      type: 'task.open';
      taskId: string;
      instanceId: string;
      stepId: string;
      kind: 'approval' | 'escalation' | 'inDoubt';
      roles: string[];
      instructions: string;
      meaning?: string;
      signature?: boolean;
      details?: JsonObject;
    }
  | { type: 'task.close'; taskId: string; instanceId: string }
  | {
      type: 'alert';
      instanceId: string;
      stepId?: string;
      severity: 'info' | 'warning' | 'critical';
      code: string;
      message: string;
    }
  | { type: 'watch'; instanceId: string; tags: string[] }
  | {
      type: 'child.start';
      childId: string;
      instanceId: string;
      workflow: string;
      version?: string;
      params: JsonObject;
    }
  | { type: 'child.cancel'; childId: string; instanceId: string }
  | {
      type: 'status';
      instanceId: string;
      workflowId: string;
      status: InstanceStatus;
      atMs: number;
      error?: StepError;
      output?: JsonObject;
    };

export type CommandType = Command['type'];

export interface Transition {
  state: InstanceState;
  commands: Command[];
  /** Set when the event does not apply (wrong state, unknown task…): state unchanged, nothing to journal. */
  rejection?: { code: string; message: string };
}
