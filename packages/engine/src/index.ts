/**
 * @takt/engine: the durable workflow engine. A pure core (`transition`) and a SQLite runner with
 * group commit, durable timers, crash recovery, resource arbitration and simulation.
 */
export { EngineError, type EngineErrorCode, errorCatalog } from './errors.js';
export { canonicalJson, checkDefinition, definitionHash, resolveReference } from './definitions.js';
export {
  type EngineLimits,
  defaultEngineLimits,
  replay,
  resolveParameters,
  retryDelayMs,
  transition,
} from './core/machine.js';
export {
  type Activity,
  type Command,
  type CommandType,
  type CompensationRecord,
  type EngineEvent,
  type EngineEventType,
  type InstanceState,
  type InstanceStatus,
  type StepError,
  type ThreadState,
  type Transition,
  terminalStatuses,
} from './core/types.js';
export {
  type Responder,
  type ScriptedEvent,
  type SimResponse,
  type SimulationOptions,
  type SimulationResult,
  type TraceEntry,
  simulate,
} from './simulate.js';
export {
  type DispatchCommand,
  type DispatchHandler,
  type InstanceView,
  type NotifyCommand,
  type RecoveryReport,
  Runner,
  type RunnerOptions,
  type StartOptions,
  type StartResult,
  type VerbOptions,
  createRunner,
  timeOrderedId,
} from './runner/runner.js';
export { ResourceArbiter, type ResourceRequest } from './runner/arbiter.js';
