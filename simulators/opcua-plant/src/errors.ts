import { type ErrorCatalog, TaktError, type TaktErrorOptions } from '@takt/edge-kit';

/** The codes of the OPC UA plant simulator. See docs/errors.md. */
export const errorCatalog = {
  PLANT_LAYOUT_INVALID: {
    retryable: false,
    summary:
      'The plant layout JSON does not match the layout format; `details.problems` lists every problem with its path. Fix the layout file (see simulators/opcua-plant/README.md) and restart.',
  },
  PLANT_CONFIG_INVALID: {
    retryable: false,
    summary:
      'A command-line argument or PLANT_* environment variable is invalid; `details.problems` lists them. Fix the value and restart the simulator.',
  },
  PLANT_UNIT_UNKNOWN: {
    retryable: false,
    summary:
      'No unit with this id exists in the loaded layout. Browse `Objects/Plant` or read the layout file for the unit ids.',
  },
  PLANT_TAG_UNKNOWN: {
    retryable: false,
    summary:
      'No tag with this path (`Unit.Tag`) exists in the loaded layout. The README lists the tags of every unit kind.',
  },
  PLANT_COMMAND_INVALID: {
    retryable: false,
    summary:
      'The PackML command is not allowed in the unit’s current state (e.g. Start outside Idle). Read `<Unit>.State` and send a command the state model allows.',
  },
  PLANT_COMMAND_REFUSED: {
    retryable: true,
    summary:
      'The unit refused the command because a `refuseCommands` fault is injected. Clear the fault (`Simulation.ClearFault`) or retry later.',
  },
  PLANT_INTERLOCK_ACTIVE: {
    retryable: true,
    summary:
      'A safety interlock blocks the command (the emergency stop is pressed). Release `Plant.EmergencyStop`, then Clear and Reset the unit.',
  },
  PLANT_WRITE_REJECTED: {
    retryable: false,
    summary:
      'The write was rejected: the tag is not writable or the value is outside its EURange. Write only setpoints and manual inputs, within the range the node advertises.',
  },
  PLANT_FAULT_INVALID: {
    retryable: false,
    summary:
      'The fault cannot be injected: unknown kind, a target that does not fit the kind (e.g. a sensor fault on a valve), or a bad value. See the Faults section of the README.',
  },
  PLANT_FAULT_UNKNOWN: {
    retryable: false,
    summary: 'No active fault has this id. Read `Simulation.ActiveFaults` for the ids of the active faults.',
  },
  PLANT_SERVER_START_FAILED: {
    retryable: true,
    summary:
      'The OPC UA server could not start (port in use, unreadable certificate folder). Check the port and the PKI folder named in the message.',
  },
  PLANT_CALL_FAILED: {
    retryable: false,
    summary:
      'The fault CLI could not connect to the plant or the method call returned a bad status code; `details.statusCode` names it. Check the endpoint URL and the arguments.',
  },
} as const satisfies ErrorCatalog;

export type PlantErrorCode = keyof typeof errorCatalog;

/** Errors raised by the OPC UA plant simulator. Guards check `code`, not `instanceof`. */
export class PlantError extends TaktError<PlantErrorCode> {
  constructor(code: PlantErrorCode, message: string, options: TaktErrorOptions = {}) {
    super(code, message, errorCatalog[code].retryable, options);
    this.name = 'PlantError';
  }
}
