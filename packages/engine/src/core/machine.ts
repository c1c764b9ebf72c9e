/**
 * The pure core: `transition(definition, state, event) → { state, commands }`.
 *
 * No I/O, no clock, no randomness of its own: time is `event.atMs`, ids derive from the instance id
 * and a counter in the state, jitter and `$random()` come from generators seeded by ids. The input
 * state is never mutated. It is `async` only because JSONata evaluates asynchronously; it awaits
 * nothing else, so the same inputs always give the same outputs (replay relies on it).
 *
 * An instance runs as threads: the main path, parallel branches, for-each iterations, compensation
 * handlers and the abort procedure. Each thread sits on one step with one activity.
 */
import {
  type ActionStep,
  type ApprovalStep,
  type Escalation,
  type FailStep,
  type ForEachStep,
  type Interlock,
  type Json,
  type JsonObject,
  type ParallelStep,
  type PhaseStep,
  type RetryPolicy,
  type Step,
  type StepBase,
  type SubworkflowStep,
  type SucceedStep,
  type Template,
  type WaitStep,
  type WorkflowDefinition,
  WorkflowError,
  compileExpression,
  evaluateTemplate,
  isTruthy,
  matchesError,
  utf8Bytes,
} from '@takt/workflow';
import { EngineError } from '../errors.js';
import { seededRandom } from './random.js';
import {
  type Command,
  type CompensationRecord,
  type EngineEvent,
  type InstanceState,
  type InstanceStatus,
  type StepError,
  type ThreadState,
  type TimerState,
  type Transition,
  terminalStatuses,
} from './types.js';

/** Size limits of one instance. */
export interface EngineLimits {
  /** One variable or step result. Default 64 KB. */
  maxVariableBytes?: number;
  /** All variables together. Default 512 KB. */
  maxVariablesBytes?: number;
  /** Start parameters, signal payloads, results. Default 256 KB. */
  maxPayloadBytes?: number;
  /** Threads alive at once (branches, iterations). Default 1,000. */
  maxThreads?: number;
  /** Signals buffered before a wait asks for them. Default 100. */
  maxMailbox?: number;
  /** Steps one transition may run without waiting (guards a busy loop). Default 10,000. */
  maxStepsPerTransition?: number;
}

export const defaultEngineLimits: Readonly<Required<EngineLimits>> = Object.freeze({
  maxVariableBytes: 64 * 1024,
  maxVariablesBytes: 512 * 1024,
  maxPayloadBytes: 256 * 1024,
  maxThreads: 1_000,
  maxMailbox: 100,
  maxStepsPerTransition: 10_000,
});

/** Evaluations of an interlock that timed out before it counts as not holding. */
const INTERLOCK_TIMEOUT_ATTEMPTS = 3;
const DEVICE_CHANGING = new Set(['opcua.write', 'opcua.call']);
const SAFE_ACTIVITIES = new Set([
  'paused',
  'timer',
  'condition',
  'event',
  'approval',
  'retryWait',
  'acquiring',
  'joining',
  'inDoubt',
  'child',
  'done',
]);

class StepFailure extends Error {
  constructor(readonly stepError: StepError) {
    super(stepError.message);
  }
}

const deep = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/**
 * Copies exactly the containers the machine mutates in place (a full deep copy costs a third of a
 * transition). JSON values inside (variables, results, params) are only ever replaced, never edited.
 * The unit tests deep-freeze input states to catch any in-place edit this copy would miss.
 */
function copyThread(t: ThreadState): ThreadState {
  const copy: ThreadState = {
    id: t.id,
    role: t.role,
    stepId: t.stepId,
    status: t.status,
    activity: { ...t.activity },
    attempt: t.attempt,
    failures: t.failures,
    stepStartedAtMs: t.stepStartedAtMs,
    locals: t.locals,
    escalated: t.escalated.length === 0 ? [] : [...t.escalated],
  };
  if (t.parentId !== undefined) copy.parentId = t.parentId;
  if (t.slot !== undefined) copy.slot = t.slot;
  if (t.result !== undefined) copy.result = t.result;
  if (t.error !== undefined) copy.error = t.error;
  if (t.join !== undefined) copy.join = deep(t.join);
  return copy;
}

function copyState(state: InstanceState): InstanceState {
  const threads: Record<string, ThreadState> = {};
  for (const id in state.threads) threads[id] = copyThread(state.threads[id] as ThreadState);
  const resources: InstanceState['resources'] = {};
  for (const id in state.resources) resources[id] = { ...(state.resources[id] as InstanceState['resources'][string]) };
  // Built field by field (not by spreading) so every copy shares one hidden class.
  const out: InstanceState = {
    instanceId: state.instanceId,
    workflowId: state.workflowId,
    workflowVersion: state.workflowVersion,
    definitionHash: state.definitionHash,
    status: state.status,
    params: state.params,
    vars: { ...state.vars },
    tags: { ...state.tags },
    threads,
    timers: { ...state.timers },
    resources,
    pending: { ...state.pending },
    outbox: { ...state.outbox },
    tasks: { ...state.tasks },
    mailbox: [...state.mailbox],
    compensations: [...state.compensations],
    control: { ...state.control },
    breached: [...state.breached],
    counter: state.counter,
    seq: state.seq,
    createdAtMs: state.createdAtMs,
    updatedAtMs: state.updatedAtMs,
  };
  if (state.compensation !== undefined) out.compensation = deep(state.compensation);
  if (state.parent !== undefined) out.parent = state.parent;
  if (state.idempotencyKey !== undefined) out.idempotencyKey = state.idempotencyKey;
  if (state.output !== undefined) out.output = state.output;
  if (state.error !== undefined) out.error = state.error;
  if (state.abort !== undefined) out.abort = state.abort;
  return out;
}

function jsonBytes(value: Json | undefined): number {
  return value === undefined ? 0 : utf8Bytes(JSON.stringify(value));
}

function stepError(code: string, message: string, retryable = false, details?: JsonObject): StepError {
  const error: StepError = { code, message, retryable };
  if (details !== undefined) error.details = details;
  return error;
}

function toStepError(error: unknown, stepId: string): StepError {
  if (error instanceof StepFailure) return { ...error.stepError, stepId };
  if (typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string') {
    const coded = error as { code: string; message?: string; retryable?: boolean; details?: unknown };
    const code = coded.code.startsWith('WF_EXPRESSION') ? 'WF_EXPRESSION_FAILED' : coded.code;
    const out: StepError = { code, message: coded.message ?? code, retryable: coded.retryable === true, stepId };
    if (code !== coded.code) out.details = { cause: coded.code };
    return out;
  }
  return { code: 'WF_ACTION_FAILED', message: String(error), retryable: false, stepId };
}

/** Validates and defaults start parameters; throws `WF_PARAMETER_INVALID` listing every problem. */
export function resolveParameters(definition: WorkflowDefinition, params: JsonObject): JsonObject {
  const out: JsonObject = {};
  const problems: { name: string; problem: string }[] = [];
  const specs = definition.parameters ?? {};
  for (const name of Object.keys(params)) {
    if (!Object.hasOwn(specs, name)) problems.push({ name, problem: 'not declared' });
  }
  for (const [name, spec] of Object.entries(specs)) {
    const value = params[name] ?? spec.default;
    if (value === undefined) {
      if (spec.required ?? true) problems.push({ name, problem: 'missing' });
      continue;
    }
    const typeOk =
      (spec.type === 'number' && typeof value === 'number' && Number.isFinite(value)) ||
      (spec.type === 'integer' && Number.isInteger(value)) ||
      (spec.type === 'string' && typeof value === 'string') ||
      (spec.type === 'boolean' && typeof value === 'boolean') ||
      (spec.type === 'array' && Array.isArray(value)) ||
      (spec.type === 'object' && typeof value === 'object' && value !== null && !Array.isArray(value));
    if (!typeOk) {
      problems.push({ name, problem: `expected ${spec.type}` });
      continue;
    }
    if (typeof value === 'number') {
      if (spec.min !== undefined && value < spec.min) problems.push({ name, problem: `below min ${spec.min}` });
      if (spec.max !== undefined && value > spec.max) problems.push({ name, problem: `above max ${spec.max}` });
    }
    if (typeof value === 'string' && spec.maxLength !== undefined && value.length > spec.maxLength) {
      problems.push({ name, problem: `longer than ${spec.maxLength}` });
    }
    if (spec.enum !== undefined && (typeof value === 'string' || typeof value === 'number')) {
      if (!spec.enum.includes(value)) problems.push({ name, problem: 'not in enum' });
    }
    out[name] = value;
  }
  if (problems.length > 0) {
    throw new EngineError('WF_PARAMETER_INVALID', `invalid parameters: ${problems.map((p) => p.name).join(', ')}`, {
      details: { problems },
    });
  }
  return out;
}

/** Retry delay for the failure before attempt `attempt + 1` (deterministic jitter). */
export function retryDelayMs(policy: RetryPolicy, attempt: number, seed: string): number {
  const interval = policy.intervalMs ?? 1000;
  const rate = policy.backoffRate ?? 2;
  const cap = policy.maxDelayMs ?? 60_000;
  const base = Math.min(cap, interval * Math.pow(rate, Math.max(0, attempt - 1)));
  const jitter = policy.jitter ?? 'none';
  if (jitter === 'none') return Math.round(base);
  const r = seededRandom(seed)();
  return Math.round(jitter === 'full' ? base * r : base / 2 + (base / 2) * r);
}

class Machine {
  readonly commands: Command[] = [];
  private rejection: { code: string; message: string } | undefined;
  private steps = 0;
  private readonly limits: Required<EngineLimits>;
  private statusBefore: InstanceStatus;

  constructor(
    private readonly def: WorkflowDefinition,
    readonly state: InstanceState,
    private readonly event: EngineEvent,
    limits: EngineLimits,
  ) {
    this.limits = { ...defaultEngineLimits, ...limits };
    this.statusBefore = state.status;
  }

  private get now(): number {
    return this.event.atMs;
  }

  private get id(): string {
    return this.state.instanceId;
  }

  private reject(code: string, message: string): void {
    this.rejection ??= { code, message };
  }

  /** Commands whose result arrived in this transition (they leave the outbox even if still awaited). */
  private readonly answered = new Set<string>();

  result(original: InstanceState): Transition {
    if (this.rejection !== undefined) return { state: original, commands: [], rejection: this.rejection };
    const outbox = this.state.outbox;
    for (const id of Object.keys(outbox)) {
      if (this.state.pending[id] === undefined || this.answered.has(id)) delete outbox[id];
    }
    for (const command of this.commands) {
      if (command.type === 'dispatch' && this.state.pending[command.commandId] !== undefined) {
        outbox[command.commandId] = command;
      }
    }
    this.state.seq += 1;
    this.state.updatedAtMs = this.now;
    if (this.state.status !== this.statusBefore) this.emitStatus();
    return { state: this.state, commands: this.commands };
  }

  private emitStatus(): void {
    const command: Command = {
      type: 'status',
      instanceId: this.id,
      workflowId: this.state.workflowId,
      status: this.state.status,
      atMs: this.now,
    };
    if (this.state.error !== undefined) command.error = this.state.error;
    if (this.state.output !== undefined && this.state.status === 'succeeded') command.output = this.state.output;
    this.commands.push(command);
  }

  private nextId(prefix: string): string {
    this.state.counter += 1;
    return `${prefix}${this.state.counter}`;
  }

  private stepOf(id: string): Step {
    const step = this.def.steps[id];
    if (step === undefined) throw new EngineError('WF_DEFINITION_INVALID', `no step "${id}"`);
    return step;
  }

  private scope(thread: ThreadState | undefined, extra: JsonObject = {}): JsonObject {
    return {
      params: this.state.params,
      vars: this.state.vars,
      tags: this.state.tags,
      instance: { id: this.id, workflow: this.state.workflowId, startedAtMs: this.state.createdAtMs },
      ...(thread === undefined ? {} : thread.locals),
      ...extra,
    };
  }

  private generator: (() => number) | undefined;

  /** `$random()` draws from one generator per transition, seeded by instance and event number. */
  private evalOptions(): { nowMs: number; random: () => number } {
    return {
      nowMs: this.now,
      random: () => (this.generator ??= seededRandom(`${this.id}:${this.state.seq}`))(),
    };
  }

  private async evaluate(
    source: string,
    thread: ThreadState | undefined,
    extra?: JsonObject,
  ): Promise<Json | undefined> {
    return compileExpression(source).evaluate(this.scope(thread, extra), this.evalOptions());
  }

  private async evalTemplate(template: Template, thread: ThreadState | undefined): Promise<Json | undefined> {
    return evaluateTemplate(template, this.scope(thread), this.evalOptions());
  }

  private setVariable(name: string, value: Json | undefined): void {
    if (value === undefined) {
      delete this.state.vars[name];
      return;
    }
    const size = jsonBytes(value);
    if (size > this.limits.maxVariableBytes) {
      throw new StepFailure(
        stepError('WF_VARIABLE_TOO_LARGE', `variable "${name}" would be ${size} bytes`, false, {
          variable: name,
          bytes: size,
          limit: this.limits.maxVariableBytes,
        }),
      );
    }
    const previous = this.state.vars[name];
    this.state.vars[name] = value;
    const total = jsonBytes(this.state.vars);
    if (total > this.limits.maxVariablesBytes) {
      if (previous === undefined) delete this.state.vars[name];
      else this.state.vars[name] = previous;
      throw new StepFailure(
        stepError('WF_VARIABLE_TOO_LARGE', `variables would total ${total} bytes`, false, {
          bytes: total,
          limit: this.limits.maxVariablesBytes,
        }),
      );
    }
  }

  // ------------------------------------------------------------------------------------------ timers

  private setTimer(timerId: string, timer: TimerState): void {
    this.state.timers[timerId] = timer;
    this.commands.push({ type: 'timer.set', timerId, instanceId: this.id, dueAtMs: timer.dueAtMs });
  }

  private cancelTimer(timerId: string): void {
    if (this.state.timers[timerId] === undefined) return;
    delete this.state.timers[timerId];
    this.commands.push({ type: 'timer.cancel', timerId, instanceId: this.id });
  }

  private cancelThreadTimers(threadId: string): void {
    for (const [timerId, timer] of Object.entries(this.state.timers)) {
      if (timer.threadId === threadId && timer.purpose !== 'workflow') this.cancelTimer(timerId);
    }
  }

  private timerId(thread: ThreadState, purpose: string): string {
    return `${this.id}:${thread.id}:${thread.stepId}:${thread.attempt}:${purpose}`;
  }

  // ------------------------------------------------------------------------------------------ resources

  private releaseScope(scope: string): void {
    for (const [requestId, held] of Object.entries(this.state.resources)) {
      if (held.scope !== scope) continue;
      delete this.state.resources[requestId];
      this.commands.push({ type: 'release', requestId, instanceId: this.id, resource: held.resource });
    }
  }

  private requestResources(
    thread: ThreadState,
    requires: { resource: string; priority?: number; timeoutMs?: number }[],
    scope: string,
  ): string[] {
    const ids: string[] = [];
    for (const req of requires) {
      const requestId = `${this.id}:${this.nextId('r')}`;
      const priority = req.priority ?? 0;
      this.state.resources[requestId] = {
        resource: req.resource,
        scope,
        granted: false,
        priority,
        requestedAtMs: this.now,
      };
      this.commands.push({
        type: 'acquire',
        requestId,
        instanceId: this.id,
        resource: req.resource,
        priority,
        requestedAtMs: this.now,
      });
      if (req.timeoutMs !== undefined) {
        this.setTimer(`${requestId}:timeout`, {
          threadId: thread.id,
          dueAtMs: this.now + req.timeoutMs,
          purpose: 'resource',
        });
      }
      ids.push(requestId);
    }
    return ids;
  }

  // ------------------------------------------------------------------------------------------ threads

  private newThread(role: ThreadState['role'], stepId: string, locals: JsonObject, parentId?: string): ThreadState {
    const alive = Object.values(this.state.threads).filter((t) => t.status === 'running').length;
    if (alive >= this.limits.maxThreads) {
      throw new StepFailure(stepError('WF_VARIABLE_TOO_LARGE', `more than ${this.limits.maxThreads} threads`));
    }
    const thread: ThreadState = {
      id: this.nextId('t'),
      role,
      stepId,
      status: 'running',
      activity: { kind: 'entering' },
      attempt: 1,
      failures: 0,
      stepStartedAtMs: this.now,
      locals,
      escalated: [],
    };
    if (parentId !== undefined) thread.parentId = parentId;
    this.state.threads[thread.id] = thread;
    return thread;
  }

  private running(): ThreadState[] {
    return Object.values(this.state.threads).filter((t) => t.status === 'running');
  }

  /** Leaves the current step's activity: timers, pending commands, tasks, step-scoped resources. */
  private leaveStep(thread: ThreadState): void {
    this.cancelThreadTimers(thread.id);
    for (const [commandId, owner] of Object.entries(this.state.pending)) {
      if (owner === thread.id) delete this.state.pending[commandId];
    }
    for (const [taskId, owner] of Object.entries(this.state.tasks)) {
      if (owner === thread.id) {
        delete this.state.tasks[taskId];
        this.commands.push({ type: 'task.close', taskId, instanceId: this.id });
      }
    }
    if (thread.activity.kind === 'child') {
      this.commands.push({ type: 'child.cancel', childId: thread.activity.childId, instanceId: this.id });
    }
    this.releaseScope(thread.id);
    thread.escalated = [];
  }

  private cancelThread(thread: ThreadState): void {
    if (thread.status !== 'running') return;
    for (const child of this.running()) {
      if (child.parentId === thread.id) this.cancelThread(child);
    }
    if (thread.activity.kind === 'phase') this.phaseCommand(thread, 'abort');
    this.leaveStep(thread);
    thread.status = 'cancelled';
    thread.activity = { kind: 'done' };
  }

  private cleanupFinished(): void {
    // Finished threads without a live parent are dropped to keep the state small.
    for (const [id, thread] of Object.entries(this.state.threads)) {
      if (thread.status === 'running') continue;
      const parent = thread.parentId === undefined ? undefined : this.state.threads[thread.parentId];
      if (parent === undefined || parent.status !== 'running' || parent.join === undefined) {
        if (thread.role !== 'main') delete this.state.threads[id];
      }
    }
  }

  // ------------------------------------------------------------------------------------------ entering steps

  private async enter(thread: ThreadState, stepId: string): Promise<void> {
    if (++this.steps > this.limits.maxStepsPerTransition) {
      throw new EngineError('WF_DEFINITION_INVALID', 'too many steps without a wait in one transition (busy loop)');
    }
    thread.stepId = stepId;
    thread.attempt = 1;
    thread.failures = 0;
    thread.escalated = [];
    thread.stepStartedAtMs = this.now;
    delete thread.join;
    await this.begin(thread);
  }

  /** Starts (or restarts, for a retry) the thread's current step. */
  private async begin(thread: ThreadState): Promise<void> {
    if (thread.status !== 'running') return;
    if (this.atSafePointPause(thread)) return;
    const step = this.stepOf(thread.stepId);
    const base = step as StepBase;
    // Units the instance or an enclosing scope already holds are not requested again (no self-deadlock).
    const scopes = new Set(['instance']);
    for (let t: ThreadState | undefined = thread, guard = 0; t !== undefined && guard < 1000; guard++) {
      scopes.add(t.id);
      t = t.parentId === undefined ? undefined : this.state.threads[t.parentId];
    }
    const heldAbove = new Set(
      Object.values(this.state.resources)
        .filter((r) => scopes.has(r.scope) && r.scope !== thread.id)
        .map((r) => r.resource),
    );
    const requires = (base.requires ?? []).filter((r) => !heldAbove.has(r.resource));
    if (step.type === 'phase' && !heldAbove.has(step.unit) && !requires.some((r) => r.resource === step.unit)) {
      requires.push({ resource: step.unit });
    }
    const heldByThread = Object.values(this.state.resources).some((r) => r.scope === thread.id);
    if (requires.length > 0 && !heldByThread) {
      const ids = this.requestResources(thread, requires, thread.id);
      thread.activity = { kind: 'acquiring', requests: ids, forInstance: false };
      return;
    }
    await this.execute(thread, step);
  }

  /** Hold and stop pause a thread before it starts a step (a safe point). */
  private atSafePointPause(thread: ThreadState): boolean {
    if (thread.role === 'abort' || thread.role === 'compensation') return false;
    if (!this.state.control.hold && !this.state.control.stop) return false;
    thread.activity = { kind: 'paused' };
    return true;
  }

  private armStepTimers(thread: ThreadState, step: StepBase): void {
    if (step.timeoutMs !== undefined) {
      this.setTimer(this.timerId(thread, 'timeout'), {
        threadId: thread.id,
        dueAtMs: this.now + step.timeoutMs,
        purpose: 'timeout',
      });
    }
    (step.escalate ?? []).forEach((esc, index) => {
      if (esc.afterMs === undefined || thread.escalated.includes(index)) return;
      const timerId = `${this.id}:${thread.id}:${thread.stepId}:escalate${index}`;
      if (this.state.timers[timerId] !== undefined) return; // armed by an earlier attempt
      this.setTimer(timerId, {
        threadId: thread.id,
        dueAtMs: thread.stepStartedAtMs + esc.afterMs,
        purpose: 'escalate',
        index,
      });
    });
  }

  private async execute(thread: ThreadState, step: Step): Promise<void> {
    try {
      if (step.type !== 'succeed' && step.type !== 'fail' && step.type !== 'choice') {
        this.armStepTimers(thread, step);
        if (step.interlocks !== undefined && !(await this.checkInterlocks())) return;
      }
      switch (step.type) {
        case 'action':
          return await this.runAction(thread, step);
        case 'choice': {
          for (const rule of step.choices) {
            if (isTruthy(await this.evaluate(rule.when, thread))) return await this.goto(thread, rule.next);
          }
          if (step.default !== undefined) return await this.goto(thread, step.default);
          throw new StepFailure(stepError('WF_NO_CHOICE_MATCHED', `no rule of "${thread.stepId}" matched`));
        }
        case 'wait':
          return await this.runWait(thread, step);
        case 'parallel':
          return await this.runParallel(thread, step);
        case 'forEach':
          return await this.runForEach(thread, step);
        case 'subworkflow':
          return await this.runSubworkflow(thread, step);
        case 'approval':
          return this.runApproval(thread, step);
        case 'phase':
          return await this.runPhase(thread, step);
        case 'succeed':
          return await this.runSucceed(thread, step);
        case 'fail':
          return await this.runFail(thread, step);
      }
    } catch (error) {
      if (error instanceof EngineError) throw error;
      await this.fail(thread, toStepError(error, thread.stepId));
    }
  }

  private async goto(thread: ThreadState, next: string): Promise<void> {
    this.leaveStep(thread);
    await this.enter(thread, next);
  }

  private commandKey(thread: ThreadState, suffix = ''): string {
    return `${this.id}:${thread.id}:${thread.stepId}:${thread.attempt}${suffix}`;
  }

  private async runAction(thread: ThreadState, step: ActionStep): Promise<void> {
    if (step.action === 'set') {
      const assigned: JsonObject = {};
      for (const [name, template] of Object.entries(step.args ?? {})) {
        const value = await this.evalTemplate(template, thread);
        this.setVariable(name, value);
        if (value !== undefined) assigned[name] = value;
      }
      await this.complete(thread, assigned);
      await this.recheckConditions();
      return;
    }
    const args = (await this.evalTemplate(step.args ?? {}, thread)) as JsonObject;
    this.dispatch(thread, step.action, args, step);
  }

  private dispatch(thread: ThreadState, action: string, args: JsonObject, step: StepBase & { inDoubt?: string }): void {
    const commandId = this.commandKey(thread);
    const command: Command = {
      type: 'dispatch',
      commandId,
      idempotencyKey: commandId,
      instanceId: this.id,
      stepId: thread.stepId,
      attempt: thread.attempt,
      action,
      args,
    };
    if (DEVICE_CHANGING.has(action)) {
      command.inDoubt = (step.inDoubt as 'readBack' | 'idempotent' | 'askOperator' | undefined) ?? 'askOperator';
    }
    if (step.timeoutMs !== undefined) command.timeoutMs = step.timeoutMs;
    this.state.pending[commandId] = thread.id;
    thread.activity = { kind: 'dispatched', commandId };
    this.commands.push(command);
  }

  private async runWait(thread: ThreadState, step: WaitStep): Promise<void> {
    if (step.event !== undefined) {
      const index = this.state.mailbox.findIndex((m) => m.name === step.event);
      if (index >= 0) {
        const [message] = this.state.mailbox.splice(index, 1);
        return this.complete(thread, message?.payload ?? null);
      }
      thread.activity = { kind: 'event', name: step.event };
      return;
    }
    if (step.condition !== undefined) {
      if (step.tags !== undefined && step.tags.length > 0) {
        this.commands.push({ type: 'watch', instanceId: this.id, tags: step.tags });
      }
      if (isTruthy(await this.evaluate(step.condition, thread))) return this.complete(thread, true);
      thread.activity = { kind: 'condition' };
      return;
    }
    let dueAtMs: number;
    if (step.durationMs !== undefined) {
      const value =
        typeof step.durationMs === 'number' ? step.durationMs : await this.evaluate(step.durationMs, thread);
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        throw new StepFailure(stepError('WF_EXPRESSION_FAILED', 'durationMs did not evaluate to a number'));
      }
      dueAtMs = this.now + Math.max(0, value);
    } else {
      const value = typeof step.until === 'number' ? step.until : await this.evaluate(String(step.until), thread);
      const ms = typeof value === 'number' ? value : typeof value === 'string' ? Date.parse(value) : Number.NaN;
      if (!Number.isFinite(ms)) {
        throw new StepFailure(stepError('WF_EXPRESSION_FAILED', 'until did not evaluate to a time'));
      }
      dueAtMs = ms;
    }
    const timerId = this.timerId(thread, 'wait');
    this.setTimer(timerId, { threadId: thread.id, dueAtMs, purpose: 'wait' });
    thread.activity = { kind: 'timer', timerId };
  }

  private async runParallel(thread: ThreadState, step: ParallelStep): Promise<void> {
    const join = step.join ?? 'all';
    const count = step.branches.length;
    const need = join === 'all' ? count : join === 'any' ? 1 : Math.min(join, count);
    const children = step.branches.map((branch, slot) => {
      const child = this.newThread('branch', branch, { ...thread.locals }, thread.id);
      child.slot = slot;
      return child;
    });
    thread.join = {
      kind: 'parallel',
      children: children.map((c) => c.id),
      results: children.map(() => undefined),
      finished: children.map(() => false),
      need,
      doneCount: 0,
    };
    thread.activity = { kind: 'joining' };
    for (const child of children) await this.enter(child, child.stepId);
  }

  private async runForEach(thread: ThreadState, step: ForEachStep): Promise<void> {
    const value = await this.evaluate(step.items, thread);
    const items = Array.isArray(value) ? value : value === undefined ? [] : [value];
    thread.join = {
      kind: 'forEach',
      children: [],
      results: items.map(() => undefined),
      finished: items.map(() => false),
      need: items.length,
      doneCount: 0,
      items,
      nextIndex: 0,
      concurrency: step.concurrency ?? 1,
    };
    thread.activity = { kind: 'joining' };
    if (items.length === 0) return this.complete(thread, []);
    await this.startIterations(thread, step);
  }

  private async startIterations(thread: ThreadState, step: ForEachStep): Promise<void> {
    const join = thread.join;
    if (join?.items === undefined) return;
    const concurrency = join.concurrency ?? 1;
    for (let guard = 0; guard < join.items.length; guard++) {
      const index = join.nextIndex ?? 0;
      const active = join.children.filter((id) => this.state.threads[id]?.status === 'running').length;
      if (index >= join.items.length || active >= concurrency) return;
      join.nextIndex = index + 1;
      const child = this.newThread(
        'iteration',
        step.iterator,
        { ...thread.locals, item: join.items[index] ?? null, index },
        thread.id,
      );
      child.slot = index;
      join.children.push(child.id);
      await this.enter(child, step.iterator);
    }
  }

  private async runSubworkflow(thread: ThreadState, step: SubworkflowStep): Promise<void> {
    const params = (await this.evalTemplate(step.parameters ?? {}, thread)) as JsonObject;
    const childId = this.commandKey(thread);
    const command: Command = { type: 'child.start', childId, instanceId: this.id, workflow: step.workflow, params };
    if (step.version !== undefined) command.version = step.version;
    this.commands.push(command);
    thread.activity = { kind: 'child', childId };
  }

  private runApproval(thread: ThreadState, step: ApprovalStep): void {
    const taskId = this.commandKey(thread);
    this.state.tasks[taskId] = thread.id;
    const command: Command = {
      type: 'task.open',
      taskId,
      instanceId: this.id,
      stepId: thread.stepId,
      kind: 'approval',
      roles: step.roles,
      instructions: step.instructions,
      signature: step.signature ?? true,
    };
    if (step.meaning !== undefined) command.meaning = step.meaning;
    this.commands.push(command);
    thread.activity = { kind: 'approval', taskId };
  }

  private async runPhase(thread: ThreadState, step: PhaseStep): Promise<void> {
    const parameters = (await this.evalTemplate(step.parameters ?? {}, thread)) as JsonObject;
    const commandId = this.commandKey(thread);
    this.state.pending[commandId] = thread.id;
    thread.activity = { kind: 'phase', commandId, started: false };
    this.commands.push({
      type: 'dispatch',
      commandId,
      idempotencyKey: commandId,
      instanceId: this.id,
      stepId: thread.stepId,
      attempt: thread.attempt,
      action: 'phase.start',
      args: { unit: step.unit, phase: step.phase, model: step.model ?? 'packml', parameters },
    });
  }

  private phaseCommand(thread: ThreadState, verb: 'hold' | 'restart' | 'stop' | 'abort'): void {
    const step = this.def.steps[thread.stepId];
    if (step?.type !== 'phase') return;
    const mapped = step.commands?.[verb] ?? verb;
    if (mapped === 'none') return;
    const commandId = this.commandKey(thread, `:${verb}:${this.state.seq}`);
    this.commands.push({
      type: 'dispatch',
      commandId,
      idempotencyKey: commandId,
      instanceId: this.id,
      stepId: thread.stepId,
      attempt: thread.attempt,
      action: 'phase.command',
      args: { unit: step.unit, phase: step.phase, command: mapped },
    });
  }

  private async runSucceed(thread: ThreadState, step: SucceedStep): Promise<void> {
    if (thread.role === 'main' && step.output !== undefined) {
      this.state.output = (await this.evalTemplate(step.output, thread)) as JsonObject;
    }
    this.leaveStep(thread);
    await this.finishThread(thread, thread.result ?? null);
  }

  private async runFail(thread: ThreadState, step: FailStep): Promise<void> {
    const message = step.message === undefined ? step.error : await this.evalTemplate(step.message, thread);
    const error = stepError(
      step.error,
      typeof message === 'string' ? message : JSON.stringify(message),
      this.def.errors?.[step.error]?.retryable ?? false,
    );
    error.stepId = thread.stepId;
    this.leaveStep(thread);
    if (step.compensate === true && this.state.compensations.length > 0 && thread.role === 'main') {
      this.state.error = error;
      this.startCompensation('failed');
      return;
    }
    await this.failThread(thread, error);
  }

  // ------------------------------------------------------------------------------------------ completing

  private async complete(thread: ThreadState, value: Json | undefined): Promise<void> {
    const step = this.stepOf(thread.stepId) as StepBase;
    const result = value ?? null;
    if (jsonBytes(result) > this.limits.maxPayloadBytes) {
      return this.fail(thread, stepError('WF_VARIABLE_TOO_LARGE', `result of "${thread.stepId}" is too large`));
    }
    try {
      if (step.resultVar !== undefined) this.setVariable(step.resultVar, result);
    } catch (error) {
      return this.fail(thread, toStepError(error, thread.stepId));
    }
    thread.result = result;
    if (step.compensate !== undefined) {
      const record: CompensationRecord = {
        stepId: thread.stepId,
        handler: step.compensate,
        threadId: thread.id,
        result,
        locals: { ...thread.locals },
      };
      this.state.compensations.push(record);
    }
    this.leaveStep(thread);
    if (step.next !== undefined) return this.enter(thread, step.next);
    await this.finishThread(thread, result);
  }

  private async fail(thread: ThreadState, error: StepError): Promise<void> {
    if (thread.status !== 'running') return;
    const step = this.stepOf(thread.stepId);
    const base = step as StepBase;
    error.stepId ??= thread.stepId;
    thread.failures += 1;
    // Escalation after N failures.
    for (const [index, esc] of (base.escalate ?? []).entries()) {
      if (
        esc.afterFailures !== undefined &&
        thread.failures >= esc.afterFailures &&
        !thread.escalated.includes(index)
      ) {
        thread.escalated.push(index);
        if (await this.escalate(thread, esc, error)) return;
      }
    }
    // Retry.
    const policy = (base.retry ?? []).find(
      (p) => p.errors.includes(error.code) || (p.errors.includes('*') && error.retryable),
    );
    if (policy !== undefined && thread.attempt < (policy.maxAttempts ?? 3)) {
      const delay = retryDelayMs(policy, thread.attempt, `${this.id}:${thread.id}:${thread.stepId}:${thread.attempt}`);
      // Escalation timers run from the step's first start, across retries.
      for (const [timerId, timer] of Object.entries(this.state.timers)) {
        if (timer.threadId === thread.id && timer.purpose !== 'workflow' && timer.purpose !== 'escalate') {
          this.cancelTimer(timerId);
        }
      }
      for (const [commandId, owner] of Object.entries(this.state.pending)) {
        if (owner === thread.id) delete this.state.pending[commandId];
      }
      thread.attempt += 1;
      const timerId = this.timerId(thread, 'retry');
      this.setTimer(timerId, { threadId: thread.id, dueAtMs: this.now + delay, purpose: 'retry' });
      thread.activity = { kind: 'retryWait', timerId };
      thread.error = error;
      return;
    }
    // Catch.
    const clause = (base.catch ?? []).find((c) => matchesError(c.errors, error.code));
    if (clause !== undefined) {
      this.leaveStep(thread);
      thread.locals = { ...thread.locals, error: { ...error } };
      if (clause.errorVar !== undefined) {
        try {
          this.setVariable(clause.errorVar, error as unknown as JsonObject);
        } catch {
          // The error object is small; a full variable budget is reported by the handler's own writes.
        }
      }
      if (clause.compensate === true && this.state.compensations.length > 0) {
        thread.activity = { kind: 'compensating' };
        thread.stepId = clause.next;
        this.startCompensation('resumeThread', thread.id);
        return;
      }
      return this.enter(thread, clause.next);
    }
    this.leaveStep(thread);
    await this.failThread(thread, error);
  }

  /** Returns true when the escalation moved the thread (jump). */
  private async escalate(thread: ThreadState, esc: Escalation, error?: StepError): Promise<boolean> {
    const message = esc.message ?? `step "${thread.stepId}" needs attention${error ? `: ${error.code}` : ''}`;
    if (esc.action === 'alert') {
      this.commands.push({
        type: 'alert',
        instanceId: this.id,
        stepId: thread.stepId,
        severity: esc.severity ?? 'warning',
        code: error?.code ?? 'WF_ESCALATION',
        message,
      });
      return false;
    }
    if (esc.action === 'operator') {
      const taskId = this.commandKey(thread, `:escalation${thread.escalated.length}`);
      this.commands.push({
        type: 'task.open',
        taskId,
        instanceId: this.id,
        stepId: thread.stepId,
        kind: 'escalation',
        roles: esc.roles ?? ['operator'],
        instructions: message,
      });
      return false;
    }
    if (esc.next === undefined) return false;
    if (error !== undefined) thread.locals = { ...thread.locals, error: { ...error } };
    await this.goto(thread, esc.next);
    return true;
  }

  private async finishThread(thread: ThreadState, result: Json): Promise<void> {
    thread.status = 'done';
    thread.activity = { kind: 'done' };
    thread.result = result;
    this.cancelThreadTimers(thread.id);
    switch (thread.role) {
      case 'main':
        if (this.state.output === undefined && this.def.outputs !== undefined) {
          const templates = Object.fromEntries(Object.entries(this.def.outputs).map(([k, o]) => [k, o.value]));
          try {
            this.state.output = (await this.evalTemplate(templates, thread)) as JsonObject;
          } catch (error) {
            return this.failThread(thread, toStepError(error, thread.stepId));
          }
        }
        this.releaseScope('instance');
        return this.finishInstance('succeeded');
      case 'branch':
      case 'iteration':
        return this.childFinished(thread, result, undefined);
      case 'compensation':
        return this.nextCompensation();
      case 'abort':
        return this.finishAbort();
    }
  }

  private async failThread(thread: ThreadState, error: StepError): Promise<void> {
    thread.status = 'failed';
    thread.activity = { kind: 'done' };
    thread.error = error;
    this.cancelThreadTimers(thread.id);
    switch (thread.role) {
      case 'main':
        this.state.error = error;
        if ((this.def.compensateOnFailure ?? true) && this.state.compensations.length > 0) {
          this.startCompensation('failed');
          return;
        }
        this.releaseScope('instance');
        return this.finishInstance('failed');
      case 'branch':
      case 'iteration':
        return this.childFinished(thread, undefined, error);
      case 'compensation': {
        const run = this.state.compensation;
        if (run !== undefined) run.failures.push(error);
        this.commands.push({
          type: 'alert',
          instanceId: this.id,
          stepId: thread.stepId,
          severity: 'critical',
          code: error.code,
          message: `compensation step "${thread.stepId}" failed: ${error.message}`,
        });
        return this.nextCompensation();
      }
      case 'abort':
        this.commands.push({
          type: 'alert',
          instanceId: this.id,
          stepId: thread.stepId,
          severity: 'critical',
          code: error.code,
          message: `safe-state procedure failed at "${thread.stepId}": ${error.message}`,
        });
        return this.finishAbort();
    }
  }

  private async childFinished(
    child: ThreadState,
    result: Json | undefined,
    error: StepError | undefined,
  ): Promise<void> {
    const parent = child.parentId === undefined ? undefined : this.state.threads[child.parentId];
    const join = parent?.join;
    if (parent === undefined || join === undefined || parent.status !== 'running' || child.slot === undefined) return;
    join.finished[child.slot] = true;
    if (error !== undefined) {
      const remaining = join.finished.filter((f) => !f).length;
      if (join.kind === 'forEach' || join.doneCount + remaining < join.need) {
        for (const id of join.children) {
          const sibling = this.state.threads[id];
          if (sibling !== undefined) this.cancelThread(sibling);
        }
        delete parent.join;
        this.cleanupFinished();
        return this.fail(parent, { ...error });
      }
      return;
    }
    join.results[child.slot] = result ?? null;
    join.doneCount += 1;
    if (join.doneCount >= join.need) {
      for (const id of join.children) {
        const sibling = this.state.threads[id];
        if (sibling !== undefined) this.cancelThread(sibling);
      }
      const results = join.results.map((r) => r ?? null);
      delete parent.join;
      this.cleanupFinished();
      return this.complete(parent, results);
    }
    if (join.kind === 'forEach') {
      await this.startIterations(parent, this.stepOf(parent.stepId) as ForEachStep);
    }
    this.cleanupFinished();
  }

  private async finishInstance(status: InstanceStatus): Promise<void> {
    for (const thread of this.running()) this.cancelThread(thread);
    for (const timerId of Object.keys(this.state.timers)) this.cancelTimer(timerId);
    for (const requestId of Object.keys(this.state.resources)) {
      const held = this.state.resources[requestId];
      if (held === undefined) continue;
      delete this.state.resources[requestId];
      this.commands.push({ type: 'release', requestId, instanceId: this.id, resource: held.resource });
    }
    for (const taskId of Object.keys(this.state.tasks)) {
      delete this.state.tasks[taskId];
      this.commands.push({ type: 'task.close', taskId, instanceId: this.id });
    }
    this.state.status = status;
    this.state.pending = {};
    this.state.mailbox = [];
    if (status !== 'succeeded') delete this.state.output;
    // Keep only the main thread (for its last step); the rest is history in the journal.
    for (const [id, thread] of Object.entries(this.state.threads))
      if (thread.role !== 'main') delete this.state.threads[id];
    await Promise.resolve();
  }

  // ------------------------------------------------------------------------------------------ compensation

  private startCompensation(then: 'cancelled' | 'failed' | 'resumeThread', waitingThreadId?: string): void {
    const queue = [...this.state.compensations].reverse();
    this.state.compensations = [];
    this.state.compensation = { queue, then, failures: [] };
    if (waitingThreadId !== undefined) this.state.compensation.waitingThreadId = waitingThreadId;
    if (then !== 'resumeThread') {
      for (const thread of this.running()) this.cancelThread(thread);
      this.state.status = 'compensating';
    }
  }

  private async nextCompensation(): Promise<void> {
    const run = this.state.compensation;
    if (run === undefined) return;
    const record = run.queue.shift();
    if (record !== undefined) {
      const thread = this.newThread('compensation', record.handler, {
        ...record.locals,
        compensating: { stepId: record.stepId, result: record.result ?? null },
      });
      await this.enter(thread, record.handler);
      return;
    }
    delete this.state.compensation;
    if (run.then === 'resumeThread') {
      const waiting = run.waitingThreadId === undefined ? undefined : this.state.threads[run.waitingThreadId];
      if (waiting !== undefined && waiting.status === 'running') await this.enter(waiting, waiting.stepId);
      return;
    }
    await this.finishInstance(run.then);
  }

  /** Runs queued compensations: call after startCompensation, once the state is consistent. */
  private async runCompensationIfStarted(): Promise<void> {
    const run = this.state.compensation;
    if (run === undefined) return;
    const active = this.running().some((t) => t.role === 'compensation');
    if (!active) await this.nextCompensation();
  }

  // ------------------------------------------------------------------------------------------ abort

  private async abort(code: string, reason: string): Promise<void> {
    this.state.abort = { code, reason };
    this.state.error = stepError(code, reason);
    for (const thread of this.running()) this.cancelThread(thread);
    delete this.state.compensation;
    this.state.control = { hold: false, stop: false };
    if (this.def.onAbort === undefined) return this.finishInstance('aborted');
    this.state.status = 'aborting';
    const thread = this.newThread('abort', this.def.onAbort, { abort: { code, reason } });
    await this.enter(thread, this.def.onAbort);
  }

  private async finishAbort(): Promise<void> {
    await this.finishInstance('aborted');
  }

  // ------------------------------------------------------------------------------------------ interlocks and conditions

  private activeInterlocks(): { key: string; interlock: Interlock }[] {
    const out: { key: string; interlock: Interlock }[] = [];
    (this.def.interlocks ?? []).forEach((interlock, i) => out.push({ key: `instance:${i}`, interlock }));
    for (const thread of this.running()) {
      if (thread.role === 'abort') continue;
      const step = this.def.steps[thread.stepId] as StepBase | undefined;
      (step?.interlocks ?? []).forEach((interlock, i) => out.push({ key: `${thread.stepId}:${i}`, interlock }));
    }
    return out;
  }

  /**
   * An interlock that cannot be evaluated does not hold (fail safe). The expression timeout is wall
   * time, so a busy or freshly started process can time out an instant expression: a timeout is tried
   * again (bounded) before it counts; one that times out every time still does not hold.
   */
  private async interlockHolds(interlock: Interlock): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        return isTruthy(await this.evaluate(interlock.condition, undefined));
      } catch (error) {
        if (
          attempt >= INTERLOCK_TIMEOUT_ATTEMPTS ||
          !(error instanceof WorkflowError) ||
          error.code !== 'WF_EXPRESSION_TIMEOUT'
        ) {
          return false;
        }
      }
    }
  }

  /** Evaluates active interlocks; returns false when a breach aborted the instance. */
  private async checkInterlocks(): Promise<boolean> {
    if (this.state.status === 'aborting' || terminalStatuses.has(this.state.status)) return true;
    for (const { key, interlock } of this.activeInterlocks()) {
      const holds = await this.interlockHolds(interlock);
      const breached = this.state.breached.includes(key);
      if (holds) {
        if (breached) this.state.breached = this.state.breached.filter((k) => k !== key);
        continue;
      }
      if (breached) continue;
      this.state.breached.push(key);
      const message = interlock.message ?? `interlock ${key} breached`;
      this.commands.push({
        type: 'alert',
        instanceId: this.id,
        severity: 'critical',
        code: 'WF_INTERLOCK_BREACHED',
        message,
      });
      if (interlock.onBreach === 'abort') {
        await this.abort('WF_INTERLOCK_BREACHED', message);
        return false;
      }
      this.requestHold(message);
    }
    return true;
  }

  private async recheckConditions(): Promise<void> {
    for (const thread of this.running()) {
      if (thread.activity.kind !== 'condition') continue;
      const step = this.stepOf(thread.stepId);
      if (step.type !== 'wait' || step.condition === undefined) continue;
      try {
        if (isTruthy(await this.evaluate(step.condition, thread))) await this.complete(thread, true);
      } catch (error) {
        await this.fail(thread, toStepError(error, thread.stepId));
      }
    }
  }

  // ------------------------------------------------------------------------------------------ hold, restart, stop

  private requestHold(reason: string): void {
    if (this.state.control.hold) return;
    this.state.control.hold = true;
    this.state.control.holdReason = reason;
    this.state.status = 'holding';
    for (const thread of this.running()) {
      if (thread.activity.kind === 'phase') this.phaseCommand(thread, 'hold');
    }
  }

  /** Moves holding → held and stopping → stopped once every thread is at a safe point. */
  private async settleControl(): Promise<void> {
    const { status } = this.state;
    if (status !== 'holding' && status !== 'stopping') return;
    const busy = this.running().some((t) => !SAFE_ACTIVITIES.has(t.activity.kind) && t.activity.kind !== 'phase');
    if (busy) return;
    if (status === 'holding') {
      this.state.status = 'held';
      return;
    }
    await this.finishInstance('stopped');
  }

  // ------------------------------------------------------------------------------------------ events

  async apply(): Promise<void> {
    const event = this.event;
    const status = this.state.status;
    const terminal = terminalStatuses.has(status);
    if (terminal && event.type !== 'timer' && event.type !== 'result' && event.type !== 'granted') {
      return this.reject('WF_INVALID_TRANSITION', `instance is ${status}`);
    }
    switch (event.type) {
      case 'start':
        return this.reject('WF_INVALID_TRANSITION', 'instance already started');
      case 'result':
        return this.onResult(event);
      case 'timer':
        return this.onTimer(event.timerId);
      case 'signal':
        return this.onSignal(event.name, event.payload ?? null);
      case 'tags':
        Object.assign(this.state.tags, event.values);
        if (!(await this.checkInterlocks())) return;
        await this.recheckConditions();
        return;
      case 'approve':
      case 'reject':
        return this.onApproval(event);
      case 'resolve':
        return this.onResolve(event);
      case 'granted':
        return this.onGranted(event.requestId);
      case 'inDoubt':
        return this.onInDoubt(event.commandId);
      case 'phase':
        return this.onPhase(event.commandId, event.state, event.data);
      case 'child':
        return this.onChild(event);
      case 'hold':
        if (status !== 'running') return this.reject('WF_INVALID_TRANSITION', `cannot hold while ${status}`);
        this.requestHold(event.reason ?? 'operator hold');
        return;
      case 'restart':
        if (status !== 'held' && status !== 'holding') {
          return this.reject('WF_INVALID_TRANSITION', `cannot restart while ${status}`);
        }
        if (this.state.breached.length > 0) {
          return this.reject('WF_INVALID_TRANSITION', 'an interlock is still breached');
        }
        return this.onRestart();
      case 'stop':
        if (status !== 'running' && status !== 'held' && status !== 'holding') {
          return this.reject('WF_INVALID_TRANSITION', `cannot stop while ${status}`);
        }
        this.state.control = { hold: false, stop: true };
        this.state.status = 'stopping';
        for (const thread of this.running()) {
          if (thread.activity.kind === 'phase') this.phaseCommand(thread, 'stop');
          if (
            ['timer', 'condition', 'event', 'approval', 'retryWait', 'acquiring', 'paused'].includes(
              thread.activity.kind,
            )
          ) {
            this.leaveStep(thread);
            thread.activity = { kind: 'paused' };
          }
        }
        return;
      case 'abort':
        if (status === 'aborting') return this.reject('WF_INVALID_TRANSITION', 'already aborting');
        for (const thread of this.running()) if (thread.activity.kind === 'phase') this.phaseCommand(thread, 'abort');
        return this.abort(event.code ?? 'WF_ABORTED', event.reason ?? 'aborted by operator');
      case 'cancel':
        if (status === 'aborting' || status === 'compensating') {
          return this.reject('WF_INVALID_TRANSITION', `cannot cancel while ${status}`);
        }
        this.state.error = stepError('WF_CANCELLED', event.reason ?? 'cancelled');
        this.state.control = { hold: false, stop: false };
        this.startCompensation('cancelled');
        return;
    }
  }

  private async onRestart(): Promise<void> {
    this.state.control = { hold: false, stop: false };
    this.state.status = 'running';
    for (const thread of this.running()) {
      if (thread.activity.kind === 'phase') this.phaseCommand(thread, 'restart');
    }
    for (const thread of this.running()) {
      if (thread.activity.kind === 'paused') await this.begin(thread);
    }
  }

  private async onResult(event: Extract<EngineEvent, { type: 'result' }>): Promise<void> {
    const threadId = this.state.pending[event.commandId];
    const thread = threadId === undefined ? undefined : this.state.threads[threadId];
    this.answered.add(event.commandId);
    if (thread === undefined || thread.status !== 'running') return; // late or duplicate: nothing to do
    delete this.state.pending[event.commandId];
    const activity = thread.activity;
    if (activity.kind === 'readBack' && activity.commandId === event.commandId) {
      return this.onReadBack(thread, activity.writeCommandId, event);
    }
    if (activity.kind === 'phase' && activity.commandId === event.commandId) {
      if (!event.ok) return this.fail(thread, { ...event.error, stepId: thread.stepId });
      activity.started = true;
      this.state.pending[event.commandId] = thread.id; // now awaiting the phase's state events
      return;
    }
    if (activity.kind !== 'dispatched' && activity.kind !== 'inDoubt') return;
    if (activity.commandId !== event.commandId) return;
    if (activity.kind === 'inDoubt') {
      delete this.state.tasks[activity.taskId];
      this.commands.push({ type: 'task.close', taskId: activity.taskId, instanceId: this.id });
    }
    if (event.ok) {
      if (jsonBytes(event.value) > this.limits.maxPayloadBytes) {
        return this.fail(thread, stepError('WF_VARIABLE_TOO_LARGE', 'result too large'));
      }
      return this.complete(thread, event.value);
    }
    return this.fail(thread, { ...event.error, stepId: thread.stepId });
  }

  private async onTimer(timerId: string): Promise<void> {
    const timer = this.state.timers[timerId];
    if (timer === undefined) return; // cancelled or already fired
    delete this.state.timers[timerId];
    if (timer.purpose === 'workflow') {
      if (terminalStatuses.has(this.state.status) || this.state.status === 'aborting') return;
      return this.abort('WF_WORKFLOW_TIMEOUT', `the workflow ran longer than ${this.def.timeoutMs ?? 0} ms`);
    }
    const thread = this.state.threads[timer.threadId];
    if (thread === undefined || thread.status !== 'running') return;
    switch (timer.purpose) {
      case 'retry':
        if (thread.activity.kind !== 'retryWait') return;
        return this.begin(thread);
      case 'timeout':
        return this.fail(
          thread,
          stepError('WF_STEP_TIMEOUT', `step "${thread.stepId}" timed out`, true, {
            timeoutMs: this.now - thread.stepStartedAtMs,
          }),
        );
      case 'wait': {
        const step = this.stepOf(thread.stepId) as WaitStep;
        const lateMs = this.now - timer.dueAtMs;
        if (step.onLate === 'fail' && lateMs > (step.lateToleranceMs ?? 0)) {
          return this.fail(thread, stepError('WF_DEADLINE_MISSED', `wait was due ${lateMs} ms ago`, false, { lateMs }));
        }
        return this.complete(thread, { dueAtMs: timer.dueAtMs, firedAtMs: this.now });
      }
      case 'escalate': {
        const index = timer.index ?? 0;
        const esc = (this.stepOf(thread.stepId) as StepBase).escalate?.[index];
        if (esc === undefined || thread.escalated.includes(index)) return;
        thread.escalated.push(index);
        await this.escalate(thread, esc);
        return;
      }
      case 'resource': {
        const requestId = timerId.replace(/:timeout$/, '');
        const held = this.state.resources[requestId];
        if (held === undefined || held.granted) return;
        return this.fail(
          thread,
          stepError('WF_RESOURCE_TIMEOUT', `resource "${held.resource}" was not granted in time`, true, {
            resource: held.resource,
          }),
        );
      }
    }
  }

  private async onSignal(name: string, payload: Json): Promise<void> {
    if (jsonBytes(payload) > this.limits.maxPayloadBytes) {
      return this.reject('WF_PAYLOAD_TOO_LARGE', `signal payload is larger than ${this.limits.maxPayloadBytes} bytes`);
    }
    const waiting = this.running().filter((t) => t.activity.kind === 'event' && t.activity.name === name);
    if (waiting.length === 0) {
      if (this.state.mailbox.length >= this.limits.maxMailbox) {
        return this.reject('WF_SIGNAL_MAILBOX_FULL', 'too many buffered signals');
      }
      this.state.mailbox.push({ name, payload });
      return;
    }
    for (const thread of waiting) await this.complete(thread, payload);
  }

  private async onApproval(event: Extract<EngineEvent, { type: 'approve' | 'reject' }>): Promise<void> {
    const threadId = this.state.tasks[event.taskId];
    const thread = threadId === undefined ? undefined : this.state.threads[threadId];
    if (thread === undefined || thread.activity.kind !== 'approval' || thread.activity.taskId !== event.taskId) {
      return this.reject('WF_TASK_NOT_FOUND', `no open approval ${event.taskId}`);
    }
    const step = this.stepOf(thread.stepId) as ApprovalStep;
    if (!step.roles.includes(event.role))
      return this.reject('WF_ROLE_NOT_ALLOWED', `role ${event.role} may not decide`);
    if ((step.signature ?? true) && event.signature === undefined) {
      return this.reject('WF_SIGNATURE_REQUIRED', 'this approval needs an electronic signature');
    }
    const decision: JsonObject = {
      decision: event.type === 'approve' ? 'approved' : 'rejected',
      user: event.user,
      role: event.role,
      atMs: this.now,
    };
    if (event.comment !== undefined) decision['comment'] = event.comment;
    if (event.signature !== undefined) decision['signature'] = event.signature;
    if (step.meaning !== undefined) decision['meaning'] = step.meaning;
    if (event.type === 'approve') return this.complete(thread, decision);
    if (step.onReject !== undefined) {
      thread.locals = { ...thread.locals, decision };
      if (step.resultVar !== undefined) this.setVariable(step.resultVar, decision);
      return this.goto(thread, step.onReject);
    }
    return this.fail(thread, stepError('WF_APPROVAL_REJECTED', `rejected by ${event.user}`, false, decision));
  }

  private async onResolve(event: Extract<EngineEvent, { type: 'resolve' }>): Promise<void> {
    const threadId = this.state.tasks[event.taskId];
    const thread = threadId === undefined ? undefined : this.state.threads[threadId];
    if (thread === undefined || thread.activity.kind !== 'inDoubt' || thread.activity.taskId !== event.taskId) {
      return this.reject('WF_TASK_NOT_FOUND', `no open in-doubt question ${event.taskId}`);
    }
    delete this.state.tasks[event.taskId];
    delete this.state.pending[thread.activity.commandId];
    this.commands.push({ type: 'task.close', taskId: event.taskId, instanceId: this.id });
    if (event.outcome === 'succeeded') return this.complete(thread, event.value ?? { resolvedBy: event.user });
    if (event.outcome === 'failed') {
      return this.fail(thread, stepError('WF_IN_DOUBT_FAILED', `resolved as failed by ${event.user}`));
    }
    thread.attempt += 1;
    return this.begin(thread);
  }

  private async onGranted(requestId: string): Promise<void> {
    const held = this.state.resources[requestId];
    if (held === undefined) {
      // Granted after we gave up (timeout, cancel): hand it straight back.
      this.commands.push({ type: 'release', requestId, instanceId: this.id, resource: 'unknown' });
      return;
    }
    held.granted = true;
    this.cancelTimer(`${requestId}:timeout`);
    const owner = held.scope === 'instance' ? this.state.threads['t0'] : this.state.threads[held.scope];
    const thread = owner ?? Object.values(this.state.threads).find((t) => t.role === 'main');
    if (thread === undefined || thread.status !== 'running' || thread.activity.kind !== 'acquiring') return;
    const all = thread.activity.requests.every((id) => this.state.resources[id]?.granted === true);
    if (!all) return;
    if (thread.activity.forInstance) {
      thread.activity = { kind: 'entering' };
      return this.begin(thread);
    }
    await this.execute(thread, this.stepOf(thread.stepId));
  }

  private async onInDoubt(commandId: string): Promise<void> {
    const threadId = this.state.pending[commandId];
    const thread = threadId === undefined ? undefined : this.state.threads[threadId];
    if (thread === undefined || thread.activity.kind !== 'dispatched' || thread.activity.commandId !== commandId)
      return;
    const step = this.stepOf(thread.stepId);
    if (step.type !== 'action') return;
    const policy = step.inDoubt ?? 'askOperator';
    const args = (await this.evalTemplate(step.args ?? {}, thread)) as JsonObject;
    if (policy === 'idempotent') {
      // A setpoint write: repeating the same attempt (same key) is harmless by declaration.
      this.commands.push({
        type: 'dispatch',
        commandId,
        idempotencyKey: commandId,
        instanceId: this.id,
        stepId: thread.stepId,
        attempt: thread.attempt,
        action: step.action,
        args,
        inDoubt: 'idempotent',
      });
      return;
    }
    if (policy === 'readBack' && step.action === 'opcua.write') {
      const readId = `${commandId}:readback`;
      this.state.pending[readId] = thread.id;
      delete this.state.pending[commandId];
      thread.activity = { kind: 'readBack', commandId: readId, writeCommandId: commandId };
      const readArgs: JsonObject = { ...args };
      delete readArgs['value'];
      this.commands.push({
        type: 'dispatch',
        commandId: readId,
        idempotencyKey: readId,
        instanceId: this.id,
        stepId: thread.stepId,
        attempt: thread.attempt,
        action: 'opcua.read',
        args: readArgs,
      });
      return;
    }
    const taskId = `${commandId}:inDoubt`;
    this.state.tasks[taskId] = thread.id;
    thread.activity = { kind: 'inDoubt', commandId, taskId };
    this.commands.push({
      type: 'task.open',
      taskId,
      instanceId: this.id,
      stepId: thread.stepId,
      kind: 'inDoubt',
      roles: ['operator', 'engineer'],
      instructions: `The outcome of ${step.action} in step "${thread.stepId}" is unknown after a restart. Check the device and answer succeeded, retry or failed.`,
      details: { action: step.action, args, idempotencyKey: commandId },
    });
  }

  private async onReadBack(
    thread: ThreadState,
    writeCommandId: string,
    event: Extract<EngineEvent, { type: 'result' }>,
  ): Promise<void> {
    const step = this.stepOf(thread.stepId) as ActionStep;
    const args = (await this.evalTemplate(step.args ?? {}, thread)) as JsonObject;
    const read = event.ok ? event.value : undefined;
    const readValue =
      read !== null && typeof read === 'object' && !Array.isArray(read) && 'value' in read ? read['value'] : read;
    if (event.ok && JSON.stringify(readValue) === JSON.stringify(args['value'])) {
      return this.complete(thread, {
        value: readValue ?? null,
        resolvedBy: 'readBack',
        idempotencyKey: writeCommandId,
      });
    }
    // The write did not land (or the read failed): a new, visible attempt with its own key.
    thread.attempt += 1;
    this.dispatch(thread, step.action, args, step);
  }

  private async onPhase(commandId: string, phaseState: string, data: Json | undefined): Promise<void> {
    const threadId = this.state.pending[commandId];
    const thread = threadId === undefined ? undefined : this.state.threads[threadId];
    if (thread === undefined || thread.activity.kind !== 'phase' || thread.activity.commandId !== commandId) return;
    const normalized = phaseState.toLowerCase();
    if (normalized === 'complete' || normalized === 'completed') {
      delete this.state.pending[commandId];
      return this.complete(thread, data ?? { state: phaseState });
    }
    if (normalized === 'aborted' || normalized === 'stopped') {
      delete this.state.pending[commandId];
      return this.fail(
        thread,
        stepError('WF_PHASE_FAILED', `phase reported ${phaseState}`, false, { state: phaseState }),
      );
    }
  }

  private async onChild(event: Extract<EngineEvent, { type: 'child' }>): Promise<void> {
    const thread = this.running().find((t) => t.activity.kind === 'child' && t.activity.childId === event.childId);
    if (thread === undefined) return;
    thread.activity = { kind: 'entering' };
    if (event.ok) return this.complete(thread, event.value ?? null);
    return this.fail(
      thread,
      stepError('WF_CHILD_FAILED', event.error.message, false, { child: event.error as unknown as JsonObject }),
    );
  }

  // ------------------------------------------------------------------------------------------ start

  async start(event: Extract<EngineEvent, { type: 'start' }>): Promise<void> {
    const main: ThreadState = {
      id: 't0',
      role: 'main',
      stepId: this.def.start,
      status: 'running',
      activity: { kind: 'entering' },
      attempt: 1,
      failures: 0,
      stepStartedAtMs: this.now,
      locals: {},
      escalated: [],
    };
    this.state.threads['t0'] = main;
    if (event.tags !== undefined) this.state.tags = { ...event.tags };
    for (const [name, template] of Object.entries(this.def.variables ?? {})) {
      const value = await this.evalTemplate(template, undefined);
      if (value !== undefined) this.state.vars[name] = value;
    }
    if (this.def.timeoutMs !== undefined) {
      this.setTimer(`${this.id}:workflow`, {
        threadId: 't0',
        dueAtMs: this.now + this.def.timeoutMs,
        purpose: 'workflow',
      });
    }
    this.commands.push({
      type: 'status',
      instanceId: this.id,
      workflowId: this.state.workflowId,
      status: 'running',
      atMs: this.now,
    });
    if (!(await this.checkInterlocks())) return;
    if (this.def.requires !== undefined && this.def.requires.length > 0) {
      const ids = this.requestResources(main, this.def.requires, 'instance');
      main.activity = { kind: 'acquiring', requests: ids, forInstance: true };
      return;
    }
    await this.begin(main);
  }

  async finish(): Promise<void> {
    await this.runCompensationIfStarted();
    await this.settleControl();
    this.cleanupFinished();
  }
}

function initialState(definition: WorkflowDefinition, event: Extract<EngineEvent, { type: 'start' }>): InstanceState {
  const state: InstanceState = {
    instanceId: event.instanceId,
    workflowId: definition.id,
    workflowVersion: definition.version,
    definitionHash: event.definitionHash,
    status: 'running',
    params: {},
    vars: {},
    tags: {},
    threads: {},
    timers: {},
    resources: {},
    pending: {},
    outbox: {},
    tasks: {},
    mailbox: [],
    compensations: [],
    control: { hold: false, stop: false },
    breached: [],
    counter: 0,
    seq: 0,
    createdAtMs: event.atMs,
    updatedAtMs: event.atMs,
  };
  if (event.parent !== undefined) state.parent = event.parent;
  if (event.idempotencyKey !== undefined) state.idempotencyKey = event.idempotencyKey;
  return state;
}

/**
 * The engine core. `state` is undefined only for a `start` event. Throws only `EngineError`s for
 * input that cannot become a transition at all (bad start parameters, a definition that does not
 * match the state); everything a workflow can handle becomes a step failure inside the state.
 *
 * @example
 * let { state, commands } = await transition(def, undefined, { type: 'start', atMs: 0, instanceId: 'i1', definitionHash: h, params: {} });
 * ({ state, commands } = await transition(def, state, { type: 'result', atMs: 5, commandId: commands[1].commandId, ok: true, value: 1 }));
 */
export async function transition(
  definition: WorkflowDefinition,
  state: InstanceState | undefined,
  event: EngineEvent,
  limits: EngineLimits = {},
): Promise<Transition> {
  if (event.type === 'start') {
    if (state !== undefined) {
      return { state, commands: [], rejection: { code: 'WF_INVALID_TRANSITION', message: 'instance already started' } };
    }
    const maxPayload = limits.maxPayloadBytes ?? defaultEngineLimits.maxPayloadBytes;
    if (jsonBytes(event.params) > maxPayload) {
      throw new EngineError('WF_PAYLOAD_TOO_LARGE', `start parameters are larger than ${maxPayload} bytes`);
    }
    const fresh = initialState(definition, event);
    fresh.params = resolveParameters(definition, event.params);
    const machine = new Machine(definition, fresh, event, limits);
    await machine.start(event);
    await machine.finish();
    return machine.result(fresh);
  }
  if (state === undefined)
    throw new EngineError('WF_INSTANCE_NOT_FOUND', `event ${event.type} for an instance not started`);
  const working = copyState(state);
  const machine = new Machine(definition, working, event, limits);
  await machine.apply();
  await machine.finish();
  return machine.result(state);
}

/** Folds a journal of events into the state it produces (the replay the runner's recovery uses). */
export async function replay(
  definition: WorkflowDefinition,
  events: readonly EngineEvent[],
  from?: InstanceState,
  limits: EngineLimits = {},
): Promise<InstanceState | undefined> {
  let state = from;
  for (const event of events) {
    const next = await transition(definition, state, event, limits);
    if (next.rejection === undefined) state = next.state;
  }
  return state;
}
