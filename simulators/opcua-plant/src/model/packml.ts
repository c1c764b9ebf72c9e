/**
 * The PackML state model (ANSI/ISA-TR88.00.02-2022, OPC 30050 PackML): 17 states, the operator
 * commands that leave the wait states, and the "state complete" (SC) transitions out of the acting
 * states. Pure: no clock, no I/O; the plant model decides when an acting state is complete.
 */

/** PackML states, numbered as in ISA-TR88.00.02 `StateCurrent`. */
export const PACKML_STATES = {
  Undefined: 0,
  Clearing: 1,
  Stopped: 2,
  Starting: 3,
  Idle: 4,
  Suspended: 5,
  Execute: 6,
  Stopping: 7,
  Aborting: 8,
  Aborted: 9,
  Holding: 10,
  Held: 11,
  Unholding: 12,
  Suspending: 13,
  Unsuspending: 14,
  Resetting: 15,
  Completing: 16,
  Complete: 17,
} as const;

export type PackmlState = keyof typeof PACKML_STATES;

/** Commands, as in ISA-TR88.00.02 `CntrlCmd` (numbers in brackets): Reset(1) … Unsuspend(9). */
export const PACKML_COMMANDS = [
  'Reset',
  'Start',
  'Stop',
  'Hold',
  'Unhold',
  'Suspend',
  'Unsuspend',
  'Abort',
  'Clear',
] as const;
export type PackmlCommand = (typeof PACKML_COMMANDS)[number];

/** Acting states and the wait state each one reaches when its work is done (SC). */
export const ACTING_STATES: Readonly<Partial<Record<PackmlState, PackmlState>>> = {
  Clearing: 'Stopped',
  Starting: 'Execute',
  Stopping: 'Stopped',
  Aborting: 'Aborted',
  Holding: 'Held',
  Unholding: 'Execute',
  Suspending: 'Suspended',
  Unsuspending: 'Execute',
  Resetting: 'Idle',
  Completing: 'Complete',
};

export function isActingState(state: PackmlState): boolean {
  return ACTING_STATES[state] !== undefined;
}

export function isPackmlState(value: string): value is PackmlState {
  return Object.hasOwn(PACKML_STATES, value);
}

export function isPackmlCommand(value: string): value is PackmlCommand {
  return (PACKML_COMMANDS as readonly string[]).includes(value);
}

/** States from which Stop is not accepted (ISA-TR88: everything except the abort branch and Stopped/Stopping). */
const NO_STOP: ReadonlySet<PackmlState> = new Set(['Stopped', 'Stopping', 'Aborting', 'Aborted', 'Clearing']);

/**
 * The state a command leads to from `state`, or `undefined` when the state model does not allow it.
 * @example nextStateForCommand('Idle', 'Start') // 'Starting'
 */
export function nextStateForCommand(state: PackmlState, command: PackmlCommand): PackmlState | undefined {
  switch (command) {
    case 'Start':
      return state === 'Idle' ? 'Starting' : undefined;
    case 'Reset':
      return state === 'Complete' || state === 'Stopped' ? 'Resetting' : undefined;
    case 'Hold':
      return state === 'Execute' || state === 'Suspended' || state === 'Unsuspending' ? 'Holding' : undefined;
    case 'Unhold':
      return state === 'Held' ? 'Unholding' : undefined;
    case 'Suspend':
      return state === 'Execute' ? 'Suspending' : undefined;
    case 'Unsuspend':
      return state === 'Suspended' ? 'Unsuspending' : undefined;
    case 'Stop':
      return NO_STOP.has(state) ? undefined : 'Stopping';
    case 'Abort':
      return state === 'Aborting' || state === 'Aborted' ? undefined : 'Aborting';
    case 'Clear':
      return state === 'Aborted' ? 'Clearing' : undefined;
  }
}

/** The commands accepted in `state` (for documentation and the diagnostics view). */
export function allowedCommands(state: PackmlState): PackmlCommand[] {
  return PACKML_COMMANDS.filter((command) => nextStateForCommand(state, command) !== undefined);
}
