import { type ErrorCatalog, TaktError, type TaktErrorOptions } from '@takt/edge-kit';

/** The codes of the edgeHub emulator. See docs/errors.md. */
export const errorCatalog = {
  EDGEHUB_CONFIG_INVALID: {
    retryable: false,
    summary:
      'The emulator options or command-line arguments are invalid (ports, addresses, data folder). The message names the option; fix it and start again.',
  },
  EDGEHUB_START_FAILED: {
    retryable: false,
    summary:
      'A listener of the emulator could not be opened (port in use, address not on this host, no permission for port 443). Free the port or pick another loopback address (127.0.0.2, 127.0.0.3 …).',
  },
  MANIFEST_INVALID: {
    retryable: false,
    summary:
      'The deployment manifest is not valid JSON or breaks the official schema; `details.problems` lists each problem with its path. Fix deployment/deployment.template.json and run `npm run manifest`.',
  },
  ROUTE_INVALID: {
    retryable: false,
    summary:
      'An $edgeHub route does not parse (FROM <source> [WHERE <condition>] INTO <sink>); `details.route` names it. Correct the route in the manifest.',
  },
  MODULE_UNKNOWN: {
    retryable: false,
    summary:
      'No module identity with this id exists in the emulator. Declare the module in the deployment manifest or create it through the control API.',
  },
  CONTROL_REQUEST_FAILED: {
    retryable: true,
    summary:
      'A call to the emulator control API failed or was answered with an error status; `details.status` and `details.body` carry the answer. Check that the emulator runs and the request is valid.',
  },
  CLOSE_TIMEOUT: {
    retryable: false,
    summary:
      'The emulator did not close within its close timeout; a socket or a pending request is stuck. It is abandoned.',
  },
} as const satisfies ErrorCatalog;

export type EdgeHubErrorCode = keyof typeof errorCatalog;

/** Errors raised by the edgeHub emulator and its control client. */
export class EdgeHubError extends TaktError<EdgeHubErrorCode> {
  constructor(code: EdgeHubErrorCode, message: string, options: TaktErrorOptions = {}) {
    super(code, message, errorCatalog[code].retryable, options);
    this.name = 'EdgeHubError';
  }
}
