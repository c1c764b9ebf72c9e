/**
 * The Takt workflow language, version 1: plain JSON that fits in a module twin (DESIGN.md §2).
 * Steps live in a flat map keyed by id; everything that nests (parallel branches, for-each bodies,
 * handlers, compensation) refers to steps by id, so a definition's depth stays small however it grows.
 * The reference with examples is docs/workflow-language.md.
 */

/** Any JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
/** A JSON object. */
export type JsonObject = { [key: string]: Json };

/**
 * A JSONata expression in the twin-safe delimiter: a string `"{{ … }}"`. Where a field is a template,
 * any string that is exactly one `{{ … }}` evaluates to the expression's value (any JSON type), and a
 * string with `{{ … }}` inside text is interpolated into a string.
 */
export type Expression = string;
/** JSON in which expression strings are evaluated (see {@link Expression}). */
export type Template = Json;

/** Parameter and variable types. */
export type ValueType = 'number' | 'integer' | 'string' | 'boolean' | 'object' | 'array';

export interface ParameterSpec {
  type: ValueType;
  description?: string;
  /** Engineering unit, e.g. `degC`, `kg`, `rpm` (UCUM-style codes recommended). */
  unit?: string;
  min?: number;
  max?: number;
  /** Allowed values (strings or numbers). */
  enum?: (string | number)[];
  maxLength?: number;
  default?: Json;
  /** Default true when there is no `default`. */
  required?: boolean;
}

export interface OutputSpec {
  /** Template evaluated when the instance succeeds. */
  value: Template;
  description?: string;
  unit?: string;
}

export interface ResourceSpec {
  /** `unit` (ISA-88 unit), `equipment`, or `lock` for anything else. Default `unit`. */
  kind?: 'unit' | 'equipment' | 'lock';
  description?: string;
  /** The unit's equipment path or OPC UA node, for the orchestrator. */
  address?: string;
}

/** A runtime error code a workflow declares for its own `fail` steps and handlers. */
export interface ErrorSpec {
  summary: string;
  retryable?: boolean;
}

// ---------------------------------------------------------------------------------------------- triggers

export interface TriggerBase {
  /** Parameters of the new instance; a template evaluated over the trigger's payload (`event`). */
  parameters?: { [name: string]: Template };
  /** Template for the start idempotency key (defaults per trigger kind; see the reference). */
  idempotencyKey?: Template;
  /** A trigger can be switched off without deleting it. Default true. */
  enabled?: boolean;
}

/** Started through the orchestrator's `startWorkflow` direct method or the console. */
export interface MethodTrigger extends TriggerBase {
  kind: 'method';
}

/** Started by a message on a module input (e.g. production orders on `orders`). */
export interface MessageTrigger extends TriggerBase {
  kind: 'message';
  input: string;
  /** Start only when this evaluates truthy over `event` (the message body). */
  filter?: Expression;
}

/** Started when a tag condition becomes true (edge-triggered). */
export interface TagTrigger extends TriggerBase {
  kind: 'tag';
  /** Tags the condition reads (`tags.<name>` in the expression). */
  tags: string[];
  condition: Expression;
  /** The condition must stay true this long before the trigger fires. Default 0. */
  debounceMs?: number;
  /** Changes smaller than this (absolute, numeric tags) are ignored. Default 0. */
  deadband?: number;
}

/** Started on a cron schedule (5 or 6 fields, croner syntax). */
export interface ScheduleTrigger extends TriggerBase {
  kind: 'schedule';
  cron: string;
  /** IANA time zone; default UTC. */
  timezone?: string;
  /** Runs missed while the module was off: `skip` (default), `runOnce`, or `runAll` up to `maxCatchUp`. */
  missedRuns?: 'skip' | 'runOnce' | 'runAll';
  maxCatchUp?: number;
}

export type Trigger = MethodTrigger | MessageTrigger | TagTrigger | ScheduleTrigger;

// ---------------------------------------------------------------------------------------------- failure handling

export interface RetryPolicy {
  /** Error codes this policy applies to; `*` matches every retryable error. */
  errors: string[];
  /** First pause. Default 1000 ms. */
  intervalMs?: number;
  /** Each pause is the previous one times this. Default 2. */
  backoffRate?: number;
  /** Cap on one pause. Default 60,000 ms. */
  maxDelayMs?: number;
  /** `full` (random in [0, delay]), `equal` (half fixed, half random) or `none` (default). */
  jitter?: 'none' | 'full' | 'equal';
  /** Total attempts including the first. Default 3. */
  maxAttempts?: number;
}

export interface CatchClause {
  /** Error codes handled; `*` matches any error. */
  errors: string[];
  /** The handler step; the error is in scope as `error` ({code, message, retryable, stepId}). */
  next: string;
  /** Also store the error in this variable. */
  errorVar?: string;
  /** Run the compensations of completed steps (reverse completion order) before the handler. */
  compensate?: boolean;
}

export interface Escalation {
  /** Escalate when the step has run this long. */
  afterMs?: number;
  /** Escalate after this many failed attempts. */
  afterFailures?: number;
  /**
   * `operator`: open an operator task (the step keeps running); `alert`: raise an alert on the
   * `alerts` output; `jump`: leave the step for `next`.
   */
  action: 'operator' | 'alert' | 'jump';
  next?: string;
  roles?: string[];
  message?: string;
  severity?: 'info' | 'warning' | 'critical';
}

export interface ResourceRequirement {
  /** A key of the definition's `resources`. */
  resource: string;
  /** Higher goes first among waiting instances. Default 0. */
  priority?: number;
  /** Fail with `WF_RESOURCE_TIMEOUT` when not granted in time. Default: wait without limit. */
  timeoutMs?: number;
}

export interface Interlock {
  /** Must stay truthy while the scope runs (reads `tags`, `vars`, `params`). */
  condition: Expression;
  /** Tags the condition reads; the engine subscribes to them while the scope runs. */
  tags?: string[];
  /** `hold` pauses at the next safe point and commands held phases; `abort` runs `onAbort`. */
  onBreach: 'hold' | 'abort';
  message?: string;
}

/** How the engine settles a device write whose outcome is unknown after a crash. */
export type InDoubtPolicy = 'readBack' | 'idempotent' | 'askOperator';

// ---------------------------------------------------------------------------------------------- steps

export interface StepBase {
  title?: string;
  description?: string;
  /** The step that follows; omit only with `end: true` (or on choice, succeed and fail). */
  next?: string;
  /** Ends the current path: the workflow (main path), a branch, a loop body or a handler. */
  end?: boolean;
  retry?: RetryPolicy[];
  catch?: CatchClause[];
  timeoutMs?: number;
  /** A step (chain ending with `end: true`) that undoes this one; run in reverse completion order. */
  compensate?: string;
  escalate?: Escalation[];
  requires?: ResourceRequirement[];
  interlocks?: Interlock[];
  /** Store the step's result in this variable. */
  resultVar?: string;
}

export type ActionKind = 'opcua.read' | 'opcua.write' | 'opcua.call' | 'publish' | 'audit' | 'invoke' | 'set';

export interface ActionStep extends StepBase {
  type: 'action';
  action: ActionKind;
  /** Arguments for the connector or handler. For `set`: variable name → template. */
  args?: { [key: string]: Template };
  /** For device writes and calls: how to settle an outcome lost in a crash. Default `askOperator`. */
  inDoubt?: InDoubtPolicy;
}

export interface ChoiceRule {
  when: Expression;
  next: string;
}

export interface ChoiceStep extends Omit<StepBase, 'next' | 'end'> {
  type: 'choice';
  choices: ChoiceRule[];
  default?: string;
}

export interface WaitStep extends StepBase {
  type: 'wait';
  /** Pause for this long (number or expression). */
  durationMs?: number | Expression;
  /** Pause until this time (ISO 8601 string or epoch ms, usually an expression). */
  until?: Expression | number;
  /** Pause until this holds; re-evaluated on every tag or variable change. */
  condition?: Expression;
  /** Tags the condition reads. */
  tags?: string[];
  /** Pause until this signal arrives; its payload becomes the step result. */
  event?: string;
  /** A timer due while the engine was off: `fire` late (default) or `fail` with `WF_DEADLINE_MISSED`. */
  onLate?: 'fire' | 'fail';
  /** How late counts as missed for `onLate: fail`. Default 0. */
  lateToleranceMs?: number;
}

export interface ParallelStep extends StepBase {
  type: 'parallel';
  /** First step of each branch; each branch ends at a step with `end: true`. */
  branches: string[];
  /** `all` (default), `any`, or a number n (n of the branches). */
  join?: 'all' | 'any' | number;
}

export interface ForEachStep extends StepBase {
  type: 'forEach';
  items: Expression;
  /** First step of the body; the body sees `item` and `index`. */
  iterator: string;
  /** Iterations in flight at once. Default 1. */
  concurrency?: number;
}

export interface SubworkflowStep extends StepBase {
  type: 'subworkflow';
  workflow: string;
  /** Definition version; default: the newest registered. */
  version?: string;
  parameters?: { [name: string]: Template };
}

export interface ApprovalStep extends StepBase {
  type: 'approval';
  roles: string[];
  instructions: string;
  /** Meaning of the electronic signature (21 CFR Part 11 §11.50), e.g. `Approved for release`. */
  meaning?: string;
  /** Require an electronic signature (re-authentication). Default true. */
  signature?: boolean;
  /** Where a rejection goes; default: the step fails with `WF_APPROVAL_REJECTED`. */
  onReject?: string;
}

export type PhaseCommand = 'hold' | 'restart' | 'stop' | 'abort' | 'suspend' | 'unsuspend' | 'none';

export interface PhaseStep extends StepBase {
  type: 'phase';
  /** The unit (a declared resource) that runs the phase; acquired implicitly. */
  unit: string;
  /** The phase (equipment procedure) name on the unit. */
  phase: string;
  parameters?: { [name: string]: Template };
  /** State model: `packml` (default) or `isa88`. */
  model?: 'packml' | 'isa88';
  /** Which unit command the instance's hold/restart/stop/abort sends (defaults: same name). */
  commands?: { hold?: PhaseCommand; restart?: PhaseCommand; stop?: PhaseCommand; abort?: PhaseCommand };
}

export interface SucceedStep {
  type: 'succeed';
  title?: string;
  description?: string;
  /** Sets the instance outputs, overriding the definition's `outputs` templates. */
  output?: { [key: string]: Template };
}

export interface FailStep {
  type: 'fail';
  title?: string;
  description?: string;
  error: string;
  message?: Template;
  /** Run compensations before failing. Default false. */
  compensate?: boolean;
}

export type Step =
  | ActionStep
  | ChoiceStep
  | WaitStep
  | ParallelStep
  | ForEachStep
  | SubworkflowStep
  | ApprovalStep
  | PhaseStep
  | SucceedStep
  | FailStep;

export type StepType = Step['type'];

// ---------------------------------------------------------------------------------------------- definition

export interface WorkflowDefinition {
  /** Language version. Default `takt.workflow/v1`. */
  language?: 'takt.workflow/v1';
  id: string;
  version: string;
  title?: string;
  description?: string;
  parameters?: { [name: string]: ParameterSpec };
  /** Initial variables (templates over `params`). */
  variables?: { [name: string]: Template };
  outputs?: { [name: string]: OutputSpec };
  resources?: { [name: string]: ResourceSpec };
  errors?: { [code: string]: ErrorSpec };
  triggers?: Trigger[];
  start: string;
  steps: { [id: string]: Step };
  /** Whole-instance limit; on expiry the instance aborts (runs `onAbort`) with `WF_WORKFLOW_TIMEOUT`. */
  timeoutMs?: number;
  /** First step of the safe-state procedure run on abort, interlock breach or workflow timeout. */
  onAbort?: string;
  /** Resources held for the whole instance. */
  requires?: ResourceRequirement[];
  /** Interlocks that must hold for the whole instance. */
  interlocks?: Interlock[];
  /** Compensate completed steps when the instance fails without a handler. Default true. */
  compensateOnFailure?: boolean;
}

/** A definition delivered by reference when it does not fit in the twin. */
export interface WorkflowReference {
  id: string;
  version: string;
  /** `https://`, `file://` or a module-relative path; fetched once, cached, verified. */
  uri: string;
  /** Hex SHA-256 of the referenced document's bytes. */
  sha256: string;
  title?: string;
}
