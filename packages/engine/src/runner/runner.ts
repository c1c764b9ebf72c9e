/**
 * The runner: the imperative shell around the pure core. Every transition is journaled to SQLite in
 * the same transaction as the commands it produced (outbox); many instances' transitions share one
 * fsync'd commit (group commit); commands are carried out only after the commit. After a crash,
 * `start()` replays every in-flight instance from its snapshot and journal, re-arms its timers,
 * re-dispatches pending commands with their original idempotency keys, and asks the core to settle
 * device writes whose outcome was lost ("in doubt") by the step's declared policy.
 */
import { randomBytes } from 'node:crypto';
import { type Logger, errorMessage, isCodedError, silentLogger } from '@takt/edge-kit';
import type { Json, JsonObject, WorkflowDefinition } from '@takt/workflow';
import { type EngineLimits, transition } from '../core/machine.js';
import {
  type Command,
  type EngineEvent,
  type InstanceState,
  type InstanceStatus,
  type StepError,
  terminalStatuses,
} from '../core/types.js';
import { checkDefinition, definitionHash } from '../definitions.js';
import { EngineError, type EngineErrorCode, errorCatalog } from '../errors.js';
import { ResourceArbiter } from './arbiter.js';
import { EngineStore, type TransitionRecord } from './store.js';
import { TimerQueue } from './timers.js';

export type DispatchCommand = Extract<Command, { type: 'dispatch' }>;
/** A notification the orchestrator carries out: status, alerts, human tasks, tag watches. */
export type NotifyCommand = Extract<Command, { type: 'status' | 'alert' | 'task.open' | 'task.close' | 'watch' }>;

/**
 * Carries out one side effect: an OPC UA read/write/call, a publish, an audit record, an invoke, a
 * phase command. Resolve with the result (JSON); reject with a coded error (`code`, `retryable`) that
 * workflows can retry or catch. Called at least once per idempotency key; never with two different
 * attempts under one key.
 */
export type DispatchHandler = (command: DispatchCommand, signal: AbortSignal) => Promise<Json | undefined>;

export interface RunnerOptions {
  /** SQLite file (created if missing). */
  file: string;
  dispatch: DispatchHandler;
  /** Status changes, alerts, human tasks and tag watches; resolved = delivered (at least once). */
  notify?: (command: NotifyCommand, signal: AbortSignal) => Promise<void>;
  /** Injected wall clock (epoch ms). Default `Date.now`. */
  now?: () => number;
  /** Injected id source for new instances. Default {@link timeOrderedId}. */
  newId?: () => string;
  logger?: Logger;
  limits?: EngineLimits;
  /** Write a full snapshot every N transitions of an instance (besides status changes). Default 64. */
  snapshotEvery?: number;
  /** Most transitions in one commit. Default 4,096. */
  maxBatch?: number;
  /** `FULL` (default, survives power loss) or `NORMAL` (survives a process crash only). */
  synchronous?: 'FULL' | 'NORMAL';
}

export interface StartOptions {
  /** The workflow id (newest registered version), unless `hash` is given. */
  workflowId?: string;
  version?: string;
  /** A definition by content hash. */
  hash?: string;
  params?: JsonObject;
  /** Current values of the tags the workflow's interlocks read (an unknown tag breaches, fail safe). */
  tags?: JsonObject;
  /** Starting twice with the same key returns the first instance. */
  idempotencyKey?: string;
  instanceId?: string;
  signal?: AbortSignal;
}

export interface StartResult {
  instanceId: string;
  created: boolean;
}

export interface VerbOptions {
  user?: string;
  reason?: string;
  signal?: AbortSignal;
}

export interface InstanceView {
  instanceId: string;
  workflowId: string;
  workflowVersion: string;
  definitionHash: string;
  status: InstanceStatus;
  vars: JsonObject;
  params: JsonObject;
  output?: JsonObject;
  error?: StepError;
  /** Steps the live threads are on, with what they wait for. */
  currentSteps: { threadId: string; stepId: string; activity: string; attempt: number }[];
  openTasks: string[];
  state: InstanceState;
  history?: { seq: number; atMs: number; event: EngineEvent }[];
}

export interface RecoveryReport {
  instances: number;
  redispatched: number;
  inDoubt: number;
  timers: number;
  durationMs: number;
}

interface Ack {
  resolve: () => void;
  reject: (error: unknown) => void;
}

interface Live {
  id: string;
  def: WorkflowDefinition;
  state: InstanceState | undefined;
  queue: { event: DistributiveOmit<EngineEvent, 'atMs'>; ack?: Ack }[];
  busy: boolean;
  persistedStatus: InstanceStatus | undefined;
  snapshotSeq: number;
  startKey?: string;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type EventInput = DistributiveOmit<EngineEvent, 'atMs'>;

const NOTIFY_TYPES = new Set(['status', 'alert', 'task.open', 'task.close', 'watch']);

let idCounter = 0;
let randomPool: number[] = [];

/**
 * Time-ordered instance ids (base-36 time, a counter, 24 random bits): new rows land at the right
 * edge of the journal and instance B-trees, which halves the pages a group commit writes compared
 * with random UUIDs.
 */
export function timeOrderedId(nowMs: number = Date.now()): string {
  idCounter = (idCounter + 1) % 36 ** 4;
  if (randomPool.length === 0) randomPool = [...randomBytes(1024)];
  const noise = ((randomPool.pop() ?? 0) << 16) | ((randomPool.pop() ?? 0) << 8) | (randomPool.pop() ?? 0);
  return `${nowMs.toString(36).padStart(9, '0')}${idCounter.toString(36).padStart(4, '0')}${noise.toString(16).padStart(6, '0')}`;
}

function codeOf(code: string): EngineErrorCode {
  return Object.hasOwn(errorCatalog, code) ? (code as EngineErrorCode) : 'WF_INVALID_TRANSITION';
}

function toStepError(error: unknown): StepError {
  if (isCodedError(error)) {
    const out: StepError = { code: error.code, message: error.message, retryable: error.retryable };
    return out;
  }
  if (typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string') {
    const coded = error as { code: string; message?: unknown; retryable?: unknown };
    return {
      code: coded.code,
      message: typeof coded.message === 'string' ? coded.message : coded.code,
      retryable: coded.retryable === true,
    };
  }
  return { code: 'WF_ACTION_FAILED', message: errorMessage(error), retryable: false };
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new EngineError('WF_RUNNER_CLOSED', 'aborted', { cause: reason });
}

/** The durable engine. Create with {@link createRunner}, then `await runner.start()`. */
export class Runner {
  private readonly store: EngineStore;
  private readonly now: () => number;
  private readonly newId: () => string;
  private readonly log: Logger;
  private readonly snapshotEvery: number;
  private readonly maxBatch: number;
  private readonly definitions = new Map<string, WorkflowDefinition>();
  private readonly latest = new Map<string, { hash: string; byVersion: Map<string, string> }>();
  private readonly live = new Map<string, Live>();
  private readonly byKey = new Map<string, string>();
  /** Waiters for an instance's end: called with the final state, or with an error when the runner closes. */
  private readonly endWaiters = new Map<string, Set<(state: InstanceState | Error) => void>>();
  private readonly arbiter = new ResourceArbiter();
  private readonly timers: TimerQueue;
  private readonly inflight = new AbortController();
  private batch: { record: TransitionRecord; ack: Ack | undefined; live: Live }[] = [];
  private outboxDeletes: string[] = [];
  private flushScheduled = false;
  private closed = false;
  private started = false;
  private failure: unknown;

  constructor(private readonly options: RunnerOptions) {
    this.now = options.now ?? Date.now;
    this.newId = options.newId ?? (() => timeOrderedId(this.now()));
    this.log = (options.logger ?? silentLogger).child({ component: 'engine' });
    this.snapshotEvery = options.snapshotEvery ?? 64;
    this.maxBatch = options.maxBatch ?? 4096;
    this.store = new EngineStore(
      options.file,
      options.synchronous === undefined ? {} : { synchronous: options.synchronous },
    );
    this.timers = new TimerQueue(this.now, (instanceId, timerId) =>
      this.deliver(instanceId, { type: 'timer', timerId }),
    );
  }

  // ------------------------------------------------------------------------------------------ definitions

  /** Validates and registers a definition (persisted); returns its content hash. */
  register(definition: unknown): string {
    const def = checkDefinition(definition);
    const hash = definitionHash(def);
    if (!this.definitions.has(hash)) {
      this.store.saveDefinition(hash, def.id, def.version, JSON.stringify(def), this.now());
      this.remember(hash, def);
    }
    return hash;
  }

  private remember(hash: string, def: WorkflowDefinition): void {
    this.definitions.set(hash, def);
    const entry = this.latest.get(def.id) ?? { hash, byVersion: new Map<string, string>() };
    entry.hash = hash;
    entry.byVersion.set(def.version, hash);
    this.latest.set(def.id, entry);
  }

  private resolveDefinition(options: { workflowId?: string; version?: string; hash?: string }): {
    hash: string;
    def: WorkflowDefinition;
  } {
    let hash = options.hash;
    if (hash === undefined && options.workflowId !== undefined) {
      const entry = this.latest.get(options.workflowId);
      hash = options.version === undefined ? entry?.hash : entry?.byVersion.get(options.version);
    }
    const def = hash === undefined ? undefined : this.definitions.get(hash);
    if (hash === undefined || def === undefined) {
      throw new EngineError(
        'WF_DEFINITION_NOT_FOUND',
        `no definition for ${options.workflowId ?? options.hash ?? '?'}`,
        {
          details: { workflowId: options.workflowId, version: options.version, hash: options.hash },
        },
      );
    }
    return { hash, def };
  }

  // ------------------------------------------------------------------------------------------ lifecycle

  /** Opens the store and resumes every in-flight instance. */
  async start(signal?: AbortSignal): Promise<RecoveryReport> {
    if (this.started) throw new EngineError('WF_INVALID_TRANSITION', 'runner already started');
    this.started = true;
    const began = this.now();
    for (const row of this.store.loadDefinitions()) {
      this.remember(row.hash, JSON.parse(row.body) as WorkflowDefinition);
    }
    const report: RecoveryReport = { instances: 0, redispatched: 0, inDoubt: 0, timers: 0, durationMs: 0 };
    for (const stored of this.store.activeInstances()) {
      signal?.throwIfAborted();
      const def = this.definitions.get(stored.definitionHash);
      if (def === undefined) {
        this.log.error('definition of an in-flight instance is missing', { instanceId: stored.id });
        continue;
      }
      let state = stored.snapshot;
      for (const event of this.store.journalAfter(stored.id, stored.snapshotSeq)) {
        const next = await transition(def, state, event, this.options.limits);
        if (next.rejection === undefined) state = next.state;
      }
      if (state === undefined) continue;
      const live: Live = {
        id: stored.id,
        def,
        state,
        queue: [],
        busy: false,
        persistedStatus: stored.status as InstanceStatus,
        snapshotSeq: stored.snapshotSeq,
      };
      this.live.set(stored.id, live);
      report.instances += 1;
      for (const [requestId, held] of Object.entries(state.resources)) {
        const request = {
          requestId,
          instanceId: stored.id,
          resource: held.resource,
          priority: held.priority,
          requestedAtMs: held.requestedAtMs,
        };
        if (held.granted) this.arbiter.restoreHolder(request);
      }
    }
    // Waiting requests after all holders are known, so that nobody is granted a held unit.
    for (const live of this.live.values()) {
      for (const [requestId, held] of Object.entries(live.state?.resources ?? {})) {
        if (held.granted) continue;
        const granted = this.arbiter.request({
          requestId,
          instanceId: live.id,
          resource: held.resource,
          priority: held.priority,
          requestedAtMs: held.requestedAtMs,
        });
        if (granted) this.deliver(live.id, { type: 'granted', requestId });
      }
    }
    for (const timer of this.store.timers()) {
      if (!this.live.has(timer.instanceId)) continue;
      this.timers.schedule(timer.instanceId, timer.id, timer.dueAtMs);
      report.timers += 1;
    }
    // Awaited dispatches: the state's own outbox. Re-dispatched under their original key, or settled
    // by the step's in-doubt policy when they change a device.
    for (const live of this.live.values()) {
      for (const command of Object.values(live.state?.outbox ?? {})) {
        if (command.inDoubt !== undefined) {
          report.inDoubt += 1;
          this.deliver(live.id, { type: 'inDoubt', commandId: command.commandId });
        } else {
          report.redispatched += 1;
          this.runDispatch(command);
        }
      }
    }
    const stale: string[] = [];
    for (const row of this.store.outbox()) {
      const live = this.live.get(row.instanceId);
      const command = row.command;
      if (command.type === 'dispatch') {
        // Fire-and-forget dispatches (phase commands): at least once.
        if (live === undefined) stale.push(row.id);
        else this.runDispatch(command);
      } else if (command.type === 'child.start' || command.type === 'child.cancel') {
        this.runChildCommand(command, row.id);
      } else if (NOTIFY_TYPES.has(command.type)) {
        this.runNotify(command, row.id, undefined, true);
      }
    }
    this.store.deleteOutbox(stale);
    report.durationMs = this.now() - began;
    this.log.info('engine started', { ...report });
    return report;
  }

  /** Stops timers and dispatches, commits what is pending, closes the store. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.timers.close();
    const closedError = new EngineError('WF_RUNNER_CLOSED', 'runner closed');
    this.inflight.abort(closedError);
    await Promise.resolve();
    this.flush();
    this.store.close();
    // Whatever was not applied is refused; the journal has everything that was acknowledged.
    for (const live of this.live.values()) {
      for (const item of live.queue.splice(0)) item.ack?.reject(closedError);
    }
    for (const waiters of this.endWaiters.values()) for (const waiter of waiters) waiter(closedError);
    this.endWaiters.clear();
  }

  // ------------------------------------------------------------------------------------------ verbs

  /** Starts an instance (idempotent by `idempotencyKey`); resolves once it is committed. */
  async startInstance(options: StartOptions): Promise<StartResult> {
    this.assertOpen();
    options.signal?.throwIfAborted();
    const { hash, def } = this.resolveDefinition(options);
    const key = options.idempotencyKey;
    if (key !== undefined) {
      const existing = this.byKey.get(key) ?? this.store.instanceByKey(key);
      if (existing !== undefined) return { instanceId: existing, created: false };
    }
    const instanceId = options.instanceId ?? this.newId();
    if (
      options.instanceId !== undefined &&
      (this.live.has(instanceId) || this.store.instance(instanceId) !== undefined)
    ) {
      return { instanceId, created: false };
    }
    const live: Live = {
      id: instanceId,
      def,
      state: undefined,
      queue: [],
      busy: false,
      persistedStatus: undefined,
      snapshotSeq: 0,
    };
    if (key !== undefined) {
      live.startKey = key;
      this.byKey.set(key, instanceId);
    }
    this.live.set(instanceId, live);
    const event: EventInput = { type: 'start', instanceId, definitionHash: hash, params: options.params ?? {} };
    if (key !== undefined) event.idempotencyKey = key;
    if (options.tags !== undefined) event.tags = options.tags;
    try {
      await this.submit(live, event, options.signal);
    } catch (error) {
      if (live.state === undefined) {
        this.live.delete(instanceId);
        if (key !== undefined) this.byKey.delete(key);
      }
      throw error;
    }
    return { instanceId, created: true };
  }

  /** Delivers a signal (a wait step's `event`); buffered if no step waits for it yet. */
  signal(instanceId: string, name: string, payload?: Json, options: VerbOptions = {}): Promise<void> {
    const event: EventInput = payload === undefined ? { type: 'signal', name } : { type: 'signal', name, payload };
    return this.verb(instanceId, event, options.signal);
  }

  /** Tag values for conditions and interlocks of one instance. */
  tags(instanceId: string, values: JsonObject, options: VerbOptions = {}): Promise<void> {
    return this.verb(instanceId, { type: 'tags', values }, options.signal);
  }

  approve(
    instanceId: string,
    taskId: string,
    decision: { user: string; role: string; signature?: JsonObject; comment?: string },
    options: VerbOptions = {},
  ): Promise<void> {
    return this.verb(instanceId, { type: 'approve', taskId, ...decision }, options.signal);
  }

  reject(
    instanceId: string,
    taskId: string,
    decision: { user: string; role: string; signature?: JsonObject; comment?: string },
    options: VerbOptions = {},
  ): Promise<void> {
    return this.verb(instanceId, { type: 'reject', taskId, ...decision }, options.signal);
  }

  /** Answers an in-doubt question: the operator checked the device. */
  resolveInDoubt(
    instanceId: string,
    taskId: string,
    outcome: 'succeeded' | 'retry' | 'failed',
    user: string,
    options: VerbOptions = {},
  ): Promise<void> {
    return this.verb(instanceId, { type: 'resolve', taskId, outcome, user }, options.signal);
  }

  /** A unit reports a phase state (`Complete`, `Held`, `Aborted`, `Stopped` …). */
  phaseState(
    instanceId: string,
    commandId: string,
    state: string,
    data?: Json,
    options: VerbOptions = {},
  ): Promise<void> {
    const event: EventInput =
      data === undefined ? { type: 'phase', commandId, state } : { type: 'phase', commandId, state, data };
    return this.verb(instanceId, event, options.signal);
  }

  hold(instanceId: string, options: VerbOptions = {}): Promise<void> {
    return this.verb(instanceId, { type: 'hold', ...this.who(options) }, options.signal);
  }

  restart(instanceId: string, options: VerbOptions = {}): Promise<void> {
    return this.verb(
      instanceId,
      { type: 'restart', ...(options.user === undefined ? {} : { user: options.user }) },
      options.signal,
    );
  }

  stop(instanceId: string, options: VerbOptions = {}): Promise<void> {
    return this.verb(instanceId, { type: 'stop', ...this.who(options) }, options.signal);
  }

  /** Aborts: cancels every step and runs the definition's `onAbort` safe-state procedure. */
  abort(instanceId: string, options: VerbOptions = {}): Promise<void> {
    return this.verb(instanceId, { type: 'abort', ...this.who(options) }, options.signal);
  }

  /** Cancels: stops every step and compensates completed ones in reverse order. */
  cancel(instanceId: string, options: VerbOptions = {}): Promise<void> {
    return this.verb(instanceId, { type: 'cancel', ...this.who(options) }, options.signal);
  }

  private who(options: VerbOptions): { user?: string; reason?: string } {
    const out: { user?: string; reason?: string } = {};
    if (options.user !== undefined) out.user = options.user;
    if (options.reason !== undefined) out.reason = options.reason;
    return out;
  }

  /** State, variables, current steps and (optionally) history of an instance. */
  query(
    instanceId: string,
    options: { history?: boolean; historyLimit?: number; historyOffset?: number } = {},
  ): InstanceView {
    const state = this.live.get(instanceId)?.state ?? this.store.instance(instanceId)?.snapshot;
    if (state === undefined) throw new EngineError('WF_INSTANCE_NOT_FOUND', `no instance ${instanceId}`);
    const view: InstanceView = {
      instanceId,
      workflowId: state.workflowId,
      workflowVersion: state.workflowVersion,
      definitionHash: state.definitionHash,
      status: state.status,
      vars: state.vars,
      params: state.params,
      currentSteps: Object.values(state.threads)
        .filter((t) => t.status === 'running')
        .map((t) => ({ threadId: t.id, stepId: t.stepId, activity: t.activity.kind, attempt: t.attempt })),
      openTasks: Object.keys(state.tasks),
      state,
    };
    if (state.output !== undefined) view.output = state.output;
    if (state.error !== undefined) view.error = state.error;
    if (options.history === true) {
      view.history = this.store.history(instanceId, options.historyLimit ?? 1000, options.historyOffset ?? 0);
    }
    return view;
  }

  /** Resolves with the final state once the instance has ended (committed). */
  waitForEnd(instanceId: string, options: { signal?: AbortSignal } = {}): Promise<InstanceState> {
    const current = this.live.get(instanceId)?.state ?? this.store.instance(instanceId)?.snapshot;
    if (current !== undefined && terminalStatuses.has(current.status) && !this.live.has(instanceId)) {
      return Promise.resolve(current);
    }
    if (current === undefined && !this.live.has(instanceId)) {
      return Promise.reject(new EngineError('WF_INSTANCE_NOT_FOUND', `no instance ${instanceId}`));
    }
    return new Promise((resolve, reject) => {
      const signal = options.signal;
      const waiters = this.endWaiters.get(instanceId) ?? new Set();
      const onAbort = (): void => {
        waiters.delete(done);
        reject(abortError(signal as AbortSignal));
      };
      const done = (state: InstanceState | Error): void => {
        signal?.removeEventListener('abort', onAbort);
        if (state instanceof Error) reject(state);
        else resolve(state);
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      waiters.add(done);
      this.endWaiters.set(instanceId, waiters);
    });
  }

  /**
   * Compacts history: journal rows covered by a snapshot are dropped except the last `keepEvents`
   * (default 1,000) per instance, and instances that ended before `endedBeforeMs` are removed. An
   * instance's length is never capped: its state lives in snapshots, its journal only since the last one.
   */
  compact(options: { keepEvents?: number; endedBeforeMs?: number } = {}): { journalRows: number; instances: number } {
    this.assertOpen();
    this.flush();
    return this.store.compact(options.keepEvents ?? 1000, options.endedBeforeMs);
  }

  /** Instances by status in the store. */
  counts(): Record<string, number> {
    return this.store.counts();
  }

  /** Instances held in memory (in flight). */
  get activeCount(): number {
    return this.live.size;
  }

  // ------------------------------------------------------------------------------------------ processing

  private assertOpen(): void {
    if (this.closed) throw new EngineError('WF_RUNNER_CLOSED', 'runner is closed');
    if (this.failure !== undefined) {
      throw new EngineError('WF_STORE_FAILED', 'the engine store failed; restart the module', { cause: this.failure });
    }
    if (!this.started) throw new EngineError('WF_INVALID_TRANSITION', 'call start() first');
  }

  private async verb(instanceId: string, event: EventInput, signal?: AbortSignal): Promise<void> {
    this.assertOpen();
    signal?.throwIfAborted();
    const live = this.live.get(instanceId);
    if (live === undefined) {
      const stored = this.store.instance(instanceId);
      if (stored === undefined) throw new EngineError('WF_INSTANCE_NOT_FOUND', `no instance ${instanceId}`);
      throw new EngineError('WF_INVALID_TRANSITION', `instance is ${stored.status}`, {
        details: { status: stored.status },
      });
    }
    await this.submit(live, event, signal);
  }

  private submit(live: Live, event: EventInput, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => reject(abortError(signal as AbortSignal));
      signal?.addEventListener('abort', onAbort, { once: true });
      const ack: Ack = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error instanceof Error ? error : new EngineError('WF_ACTION_FAILED', errorMessage(error)));
        },
      };
      live.queue.push({ event, ack });
      if (!live.busy) void this.drain(live);
    });
  }

  /** Internal events (results, timers, grants) for an instance still in memory. */
  private deliver(instanceId: string, event: EventInput): void {
    if (this.closed) return;
    const live = this.live.get(instanceId);
    if (live === undefined) return;
    live.queue.push({ event });
    if (!live.busy) void this.drain(live);
  }

  private async drain(live: Live): Promise<void> {
    live.busy = true;
    const keepNotifications = this.options.notify !== undefined;
    try {
      for (let guard = 0; guard < 1_000_000 && live.queue.length > 0 && !this.closed; guard++) {
        const item = live.queue.shift();
        if (item === undefined) break;
        const event = { ...item.event, atMs: this.now() };
        let result;
        try {
          result = await transition(live.def, live.state, event, this.options.limits);
        } catch (error) {
          if (item.ack !== undefined) item.ack.reject(error);
          else
            this.log.error('event could not be applied', {
              instanceId: live.id,
              type: event.type,
              error: errorMessage(error),
            });
          continue;
        }
        if (result.rejection !== undefined) {
          if (event.type === 'result') this.outboxDeletes.push(event.commandId);
          item.ack?.reject(
            new EngineError(codeOf(result.rejection.code), result.rejection.message, {
              details: { instanceId: live.id, code: result.rejection.code },
            }),
          );
          continue;
        }
        const state = result.state;
        const previous = live.state;
        live.state = state;
        const terminal = terminalStatuses.has(state.status);
        const snapshot =
          terminal ||
          (event.type !== 'start' &&
            (state.status !== live.persistedStatus || state.seq - live.snapshotSeq >= this.snapshotEvery));
        live.persistedStatus = state.status;
        if (snapshot) live.snapshotSeq = state.seq;
        const resultRowInTable =
          event.type === 'result' && previous !== undefined && previous.outbox[event.commandId] === undefined;
        this.batch.push({
          record: {
            instanceId: live.id,
            event,
            state,
            commands: result.commands,
            snapshot,
            terminal,
            resultRowInTable,
            keepNotifications,
          },
          ack: item.ack,
          live,
        });
        this.scheduleFlush();
      }
    } finally {
      live.busy = false;
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    for (let guard = 0; guard < 10_000 && (this.batch.length > 0 || this.outboxDeletes.length > 0); guard++) {
      const items = this.batch.splice(0, this.maxBatch);
      const deletes = this.outboxDeletes;
      this.outboxDeletes = [];
      try {
        this.store.commit(
          items.map((i) => i.record),
          deletes,
        );
      } catch (error) {
        // Memory is now ahead of disk: refuse further work; a restart resumes from the journal.
        this.failure = error;
        this.log.fatal('engine store commit failed', { error: errorMessage(error) });
        const failure = new EngineError('WF_STORE_FAILED', 'could not commit to the engine store', { cause: error });
        for (const item of items) item.ack?.reject(failure);
        this.closed = true;
        this.timers.close();
        this.inflight.abort(failure);
        return;
      }
      for (const item of items) this.afterCommit(item.record, item.live);
      for (const item of items) item.ack?.resolve();
    }
  }

  private afterCommit(record: TransitionRecord, live: Live): void {
    const instanceId = record.instanceId;
    for (const [index, command] of record.commands.entries()) {
      switch (command.type) {
        case 'dispatch':
          if (!record.terminal) this.runDispatch(command);
          break;
        case 'timer.set':
          if (!record.terminal) this.timers.schedule(instanceId, command.timerId, command.dueAtMs);
          break;
        case 'timer.cancel':
          this.timers.cancel(command.timerId);
          break;
        case 'acquire': {
          const granted = this.arbiter.request({
            requestId: command.requestId,
            instanceId,
            resource: command.resource,
            priority: command.priority,
            requestedAtMs: command.requestedAtMs,
          });
          if (granted) this.deliver(instanceId, { type: 'granted', requestId: command.requestId });
          break;
        }
        case 'release':
          for (const next of this.arbiter.release(command.requestId, command.resource)) {
            this.deliver(next.instanceId, { type: 'granted', requestId: next.requestId });
          }
          break;
        case 'child.start':
        case 'child.cancel':
          this.runChildCommand(command, `${command.type}:${command.childId}`);
          break;
        default:
          this.runNotify(
            command,
            `${command.type}:${instanceId}:${record.state.seq}:${index}`,
            command.type === 'task.open' || command.type === 'task.close'
              ? `${command.type}:${command.taskId}`
              : undefined,
          );
      }
    }
    if (record.terminal) {
      for (const next of this.arbiter.releaseInstance(instanceId)) {
        this.deliver(next.instanceId, { type: 'granted', requestId: next.requestId });
      }
      this.live.delete(instanceId);
      if (live.startKey !== undefined) this.byKey.delete(live.startKey);
      const waiters = this.endWaiters.get(instanceId);
      this.endWaiters.delete(instanceId);
      for (const waiter of waiters ?? []) waiter(record.state);
      const parent = record.state.parent;
      if (parent !== undefined) {
        const ok = record.state.status === 'succeeded';
        this.deliver(
          parent.instanceId,
          ok
            ? { type: 'child', childId: parent.childId, ok: true, value: record.state.output ?? null }
            : {
                type: 'child',
                childId: parent.childId,
                ok: false,
                error: record.state.error ?? {
                  code: 'WF_CHILD_FAILED',
                  message: record.state.status,
                  retryable: false,
                },
              },
        );
      }
    }
  }

  private runDispatch(command: DispatchCommand): void {
    const signal = this.inflight.signal;
    let promise: Promise<Json | undefined>;
    try {
      promise = this.options.dispatch(command, signal);
    } catch (error) {
      promise = Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    promise.then(
      (value) => {
        const event: EventInput = { type: 'result', commandId: command.commandId, ok: true };
        if (value !== undefined) event.value = value;
        this.deliver(command.instanceId, event);
      },
      (error: unknown) => {
        if (signal.aborted) return; // closing: the outbox row stays and is dispatched again on start
        this.deliver(command.instanceId, {
          type: 'result',
          commandId: command.commandId,
          ok: false,
          error: toStepError(error),
        });
      },
    );
  }

  private runNotify(command: Command, outboxRowId: string, explicitId?: string, persisted = false): void {
    const rowId = explicitId ?? outboxRowId;
    const notify = this.options.notify;
    if (notify === undefined || !NOTIFY_TYPES.has(command.type)) {
      if (!persisted) return; // without a notify handler notifications are not written to the outbox
      this.outboxDeletes.push(rowId);
      this.scheduleFlush();
      return;
    }
    notify(command as NotifyCommand, this.inflight.signal).then(
      () => {
        this.outboxDeletes.push(rowId);
        this.scheduleFlush();
      },
      (error: unknown) => {
        // Stays in the outbox; delivered again after the next start.
        this.log.warn('notification not delivered', { type: command.type, error: errorMessage(error) });
      },
    );
  }

  private runChildCommand(command: Extract<Command, { type: 'child.start' | 'child.cancel' }>, rowId: string): void {
    const done = (): void => {
      this.outboxDeletes.push(rowId);
      this.scheduleFlush();
    };
    if (command.type === 'child.cancel') {
      const child = this.live.get(command.childId);
      if (child === undefined) return done();
      this.cancel(command.childId).then(done, done);
      return;
    }
    const parentInstance = command.instanceId;
    const start = async (): Promise<void> => {
      const { hash, def } = this.resolveDefinition(
        command.version === undefined
          ? { workflowId: command.workflow }
          : { workflowId: command.workflow, version: command.version },
      );
      if (this.live.has(command.childId) || this.store.instance(command.childId) !== undefined) return;
      const live: Live = {
        id: command.childId,
        def,
        state: undefined,
        queue: [],
        busy: false,
        persistedStatus: undefined,
        snapshotSeq: 0,
      };
      this.live.set(command.childId, live);
      await this.submit(live, {
        type: 'start',
        instanceId: command.childId,
        definitionHash: hash,
        params: command.params,
        parent: { instanceId: parentInstance, childId: command.childId },
      });
    };
    start().then(done, (error: unknown) => {
      this.live.delete(command.childId);
      done();
      this.deliver(parentInstance, { type: 'child', childId: command.childId, ok: false, error: toStepError(error) });
    });
  }
}

/**
 * Creates a runner over a SQLite file.
 *
 * @example
 * const runner = createRunner({ file: '/data/engine.db', dispatch: (cmd) => connector.call(cmd) });
 * await runner.start();
 * runner.register(definition);
 * const { instanceId } = await runner.startInstance({ workflowId: 'mix', params: { batch: 'B1' }, idempotencyKey: 'order-17' });
 */
export function createRunner(options: RunnerOptions): Runner {
  return new Runner(options);
}
