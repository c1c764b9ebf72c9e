/**
 * Simulation: runs a definition through the pure core against scripted connector responses on a
 * virtual clock. A two-hour batch finishes in milliseconds and returns the full trace.
 */
import type { Json, JsonObject, WorkflowDefinition } from '@takt/workflow';
import { type EngineLimits, transition } from './core/machine.js';
import {
  type Command,
  type EngineEvent,
  type InstanceState,
  type InstanceStatus,
  type StepError,
  terminalStatuses,
} from './core/types.js';
import { definitionHash } from './definitions.js';
import { EngineError } from './errors.js';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** An event without its time (the script gives the time). */
export type ScriptedEvent = DistributiveOmit<EngineEvent, 'atMs'>;

/** What a scripted connector answers. */
export interface SimResponse {
  value?: Json;
  error?: StepError;
  /** Virtual time the call takes. Default 0. */
  delayMs?: number;
  /** Never answer (the step's timeout or an in-doubt path takes over). */
  hang?: boolean;
}

export type Responder = (command: Extract<Command, { type: 'dispatch' }>) => SimResponse;

export interface SimulationOptions {
  params?: JsonObject;
  /** Tag values at start. */
  tags?: JsonObject;
  instanceId?: string;
  /** Virtual start time (epoch ms). Default 2026-01-01T00:00:00Z. */
  startAtMs?: number;
  /**
   * Responses by step id, then by action kind (`opcua.read`…), then `*`. An array answers attempt 1,
   * 2, … (the last one repeats); a function decides per command.
   */
  responses?: Readonly<Record<string, SimResponse | readonly SimResponse[] | Responder>>;
  /** Phase steps by id: the state the unit reports (`Complete` default) and after how long. */
  phases?: Readonly<Record<string, { state?: string; afterMs?: number; data?: Json }>>;
  /** Approval steps by id: decide automatically after `afterMs` (default 0). */
  approvals?: Readonly<
    Record<string, { decision: 'approve' | 'reject'; afterMs?: number; user?: string; role?: string }>
  >;
  /** Sub-workflows by workflow id: what the child returns. */
  children?: Readonly<Record<string, SimResponse>>;
  /** Resources that stay busy (never granted) in this simulation. */
  busyResources?: readonly string[];
  /**
   * External events at virtual times. For approvals and in-doubt answers, give `taskOfStep` instead
   * of a task id: the open task of that step is used.
   */
  events?: readonly { atMs: number; event: ScriptedEvent; taskOfStep?: string }[];
  /** Stop after this many events. Default 100,000. */
  maxEvents?: number;
  /** Stop when virtual time passes this. Default 30 days. */
  maxVirtualMs?: number;
  limits?: EngineLimits;
}

export interface TraceEntry {
  atMs: number;
  event: EngineEvent;
  status: InstanceStatus;
  commands: Command[];
  rejection?: { code: string; message: string };
}

export interface SimulationResult {
  status: InstanceStatus;
  state: InstanceState;
  output: JsonObject | undefined;
  error: StepError | undefined;
  vars: JsonObject;
  /** Virtual time from start to the last event. */
  virtualMs: number;
  trace: TraceEntry[];
  /** Every dispatch, in order. */
  dispatched: Extract<Command, { type: 'dispatch' }>[];
  /** The events applied, in order: the instance's journal (replay it to get `state`). */
  journal: EngineEvent[];
}

interface Scheduled {
  atMs: number;
  seq: number;
  event: ScriptedEvent;
  taskOfStep?: string;
  timerId?: string;
}

const DEFAULT_START = Date.UTC(2026, 0, 1);

function respond(
  responses: SimulationOptions['responses'],
  command: Extract<Command, { type: 'dispatch' }>,
): SimResponse {
  const entry = responses?.[command.stepId] ?? responses?.[command.action] ?? responses?.['*'];
  if (entry === undefined) return { value: null };
  if (typeof entry === 'function') return entry(command);
  if (Array.isArray(entry)) {
    const list = entry as readonly SimResponse[];
    return list[Math.min(command.attempt, list.length) - 1] ?? { value: null };
  }
  return entry as SimResponse;
}

/**
 * Runs one instance to the end (or until nothing more is scheduled) on a virtual clock.
 *
 * @example
 * const run = await simulate(def, { params: { batch: 'B1' }, responses: { dose: { value: 12.5, delayMs: 90_000 } } });
 * run.status; // 'succeeded'
 */
export async function simulate(
  definition: WorkflowDefinition,
  options: SimulationOptions = {},
): Promise<SimulationResult> {
  const startAtMs = options.startAtMs ?? DEFAULT_START;
  const instanceId = options.instanceId ?? 'sim-1';
  const maxEvents = options.maxEvents ?? 100_000;
  const maxVirtualMs = options.maxVirtualMs ?? 30 * 24 * 3600_000;
  const hash = definitionHash(definition);
  const queue: Scheduled[] = [];
  let seq = 0;
  const schedule = (item: Omit<Scheduled, 'seq'>): void => {
    queue.push({ ...item, seq: seq++ });
  };
  const timers = new Map<string, number>();
  const trace: TraceEntry[] = [];
  const dispatched: Extract<Command, { type: 'dispatch' }>[] = [];
  const journal: EngineEvent[] = [];

  const startEvent: EngineEvent = {
    type: 'start',
    atMs: startAtMs,
    instanceId,
    definitionHash: hash,
    params: options.params ?? {},
    ...(options.tags === undefined ? {} : { tags: options.tags }),
  };
  for (const scripted of options.events ?? []) {
    const item: Omit<Scheduled, 'seq'> = { atMs: startAtMs + scripted.atMs, event: scripted.event };
    if (scripted.taskOfStep !== undefined) item.taskOfStep = scripted.taskOfStep;
    schedule(item);
  }

  let state: InstanceState | undefined;
  let now = startAtMs;

  const handle = (commands: Command[]): void => {
    for (const command of commands) {
      switch (command.type) {
        case 'dispatch': {
          dispatched.push(command);
          if (command.action === 'phase.command') break;
          if (command.action === 'phase.start') {
            schedule({ atMs: now, event: { type: 'result', commandId: command.commandId, ok: true, value: null } });
            const phase = options.phases?.[command.stepId] ?? {};
            const event: ScriptedEvent = {
              type: 'phase',
              commandId: command.commandId,
              state: phase.state ?? 'Complete',
            };
            if (phase.data !== undefined) event.data = phase.data;
            schedule({ atMs: now + (phase.afterMs ?? 0), event });
            break;
          }
          const response = respond(options.responses, command);
          if (response.hang === true) break;
          const atMs = now + (response.delayMs ?? 0);
          if (response.error !== undefined) {
            schedule({
              atMs,
              event: { type: 'result', commandId: command.commandId, ok: false, error: response.error },
            });
          } else {
            const event: ScriptedEvent = { type: 'result', commandId: command.commandId, ok: true };
            if (response.value !== undefined) event.value = response.value;
            schedule({ atMs, event });
          }
          break;
        }
        case 'timer.set':
          timers.set(command.timerId, seq);
          schedule({
            atMs: command.dueAtMs,
            event: { type: 'timer', timerId: command.timerId },
            timerId: command.timerId,
          });
          break;
        case 'timer.cancel':
          timers.delete(command.timerId);
          break;
        case 'acquire':
          if (!(options.busyResources ?? []).includes(command.resource)) {
            schedule({ atMs: now, event: { type: 'granted', requestId: command.requestId } });
          }
          break;
        case 'task.open': {
          if (command.kind !== 'approval') break;
          const rule = options.approvals?.[command.stepId];
          if (rule === undefined) break;
          schedule({
            atMs: now + (rule.afterMs ?? 0),
            event: {
              type: rule.decision,
              taskId: command.taskId,
              user: rule.user ?? 'sim-user',
              role: rule.role ?? command.roles[0] ?? 'operator',
              signature: { meaning: command.meaning ?? 'approved', method: 'simulation' },
            },
          });
          break;
        }
        case 'child.start': {
          const response = options.children?.[command.workflow] ?? { value: null };
          const atMs = now + (response.delayMs ?? 0);
          schedule({
            atMs,
            event:
              response.error !== undefined
                ? { type: 'child', childId: command.childId, ok: false, error: response.error }
                : { type: 'child', childId: command.childId, ok: true, value: response.value ?? null },
          });
          break;
        }
        default:
          break;
      }
    }
  };

  const first = await transition(definition, undefined, startEvent, options.limits);
  state = first.state;
  journal.push(startEvent);
  trace.push({ atMs: now, event: startEvent, status: state.status, commands: first.commands });
  handle(first.commands);

  for (let count = 0; count < maxEvents && !terminalStatuses.has(state.status); count++) {
    if (queue.length === 0) break;
    queue.sort((a, b) => a.atMs - b.atMs || a.seq - b.seq);
    const next = queue.shift() as Scheduled;
    if (next.timerId !== undefined && !timers.has(next.timerId)) continue;
    if (next.timerId !== undefined) timers.delete(next.timerId);
    now = Math.max(now, next.atMs);
    if (now - startAtMs > maxVirtualMs) break;
    let scripted = next.event;
    if (next.taskOfStep !== undefined && 'taskId' in scripted) {
      const stepId = next.taskOfStep;
      const taskId = Object.keys(state.tasks).find((id) => state?.threads[state.tasks[id] ?? '']?.stepId === stepId);
      if (taskId === undefined) continue;
      scripted = { ...scripted, taskId };
    }
    const event = { ...scripted, atMs: now };
    const result = await transition(definition, state, event, options.limits);
    const entry: TraceEntry = { atMs: now, event, status: result.state.status, commands: result.commands };
    if (result.rejection !== undefined) {
      entry.rejection = result.rejection;
      trace.push(entry);
      continue;
    }
    journal.push(event);
    trace.push(entry);
    state = result.state;
    handle(result.commands);
  }
  if (state === undefined) throw new EngineError('WF_INSTANCE_NOT_FOUND', 'simulation did not start');
  return {
    status: state.status,
    state,
    output: state.output,
    error: state.error,
    vars: state.vars,
    virtualMs: now - startAtMs,
    trace,
    dispatched,
    journal,
  };
}
