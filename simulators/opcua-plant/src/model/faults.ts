/** Fault kinds the model keeps as state (session drops and restarts are server actions, see `opcua/`). */
export const MODEL_FAULT_KINDS = [
  'stuckValve',
  'frozenSensor',
  'noisySensor',
  'drift',
  'refuseCommands',
  'slowMethod',
] as const;
export type ModelFaultKind = (typeof MODEL_FAULT_KINDS)[number];

/** Faults the OPC UA layer carries out instead of the model. */
export const SERVER_FAULT_KINDS = ['dropSessions', 'restart'] as const;
export type ServerFaultKind = (typeof SERVER_FAULT_KINDS)[number];

export type FaultKind = ModelFaultKind | ServerFaultKind;

export function isModelFaultKind(value: string): value is ModelFaultKind {
  return (MODEL_FAULT_KINDS as readonly string[]).includes(value);
}
export function isServerFaultKind(value: string): value is ServerFaultKind {
  return (SERVER_FAULT_KINDS as readonly string[]).includes(value);
}

/** An active fault. Plain JSON. */
export interface Fault {
  readonly id: string;
  readonly kind: ModelFaultKind;
  /** A tag path (`Reactor.Temperature`), a unit id (`Filler`) or `*` (slowMethod: every unit). */
  readonly target: string;
  /**
   * stuckValve: 0 closed, 1 open, other = stuck where it is; noisySensor: amplitude in the tag's
   * unit; drift: tag units per simulated minute; refuseCommands: 0 reject, 1 silently ignore;
   * slowMethod: delay in real milliseconds.
   */
  readonly value: number;
  /** Simulated time the fault was injected. */
  readonly sinceMs: number;
  /** stuckValve: the stuck position; frozenSensor: the frozen reading. */
  readonly held?: number | boolean;
  /** noisySensor: the current noise sample in [-1, 1], renewed every physics step. */
  sample: number;
}
