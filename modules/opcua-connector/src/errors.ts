/**
 * The connector's coded errors (STYLE.md "Errors"). Every OPC UA status code that reaches a caller is
 * translated into one of these at the boundary (see `opcua/status.ts`), with the original status on
 * `details.statusCode` and the node-opcua error on `cause`.
 */
import { type ErrorCatalog, TaktError, type TaktErrorOptions } from '@takt/edge-kit';

export const errorCatalog = {
  OPCUA_NODE_NOT_FOUND: {
    retryable: false,
    summary:
      'The NodeId (or method, or browse path) does not exist on the server (BadNodeIdUnknown, BadNodeIdInvalid, BadMethodInvalid). Check the id with the `browse` method; use the `nsu=<namespace uri>;s=<id>` form.',
  },
  OPCUA_TYPE_MISMATCH: {
    retryable: false,
    summary:
      "The value does not fit the node's data type or the method's arguments (BadTypeMismatch, BadArgumentsMissing). `details` names the expected type; send a value of that type.",
  },
  OPCUA_SESSION_LOST: {
    retryable: true,
    summary:
      'There is no usable session to the endpoint right now (server down, restarting, or the link dropped). The connector reconnects by itself; retry after a short delay.',
  },
  OPCUA_TIMEOUT: {
    retryable: true,
    summary:
      'The server did not answer within the time limit. The outcome of a write or call is unknown: read back before repeating it.',
  },
  OPCUA_BAD_STATUS: {
    retryable: false,
    summary:
      'The server answered with a bad status code (for example BadOutOfRange, BadInvalidState); `details.statusCode` names it. Fix the request or the machine state; `retryable` is set for transient server conditions (BadTooManyOperations, BadServerTooBusy).',
  },
  OPCUA_ACCESS_DENIED: {
    retryable: false,
    summary:
      'The server refused the operation for this user or node (BadUserAccessDenied, BadNotWritable, BadNotReadable, BadNotExecutable). Use a user with the right permissions or another node.',
  },
  OPCUA_SECURITY_REJECTED: {
    retryable: false,
    summary:
      "The secure channel could not be established: the server certificate is not trusted, or the security mode/policy is not offered. Copy the server certificate from the PKI's `rejected/certs` folder into `trusted/certs` (or set `autoAcceptUntrustedCertificates`), or pick a mode the server offers.",
  },
  OPCUA_AUTH_FAILED: {
    retryable: false,
    summary:
      'The server refused the user identity (BadUserAccessDenied, BadIdentityTokenRejected/Invalid) when activating the session: wrong user name or password, or anonymous access not allowed. Fix the credentials (the password comes from the secret named in the configuration).',
  },
  OPCUA_CIRCUIT_OPEN: {
    retryable: true,
    summary:
      "Commands to this endpoint are paused by its circuit breaker after repeated failures. They resume after the open period if a probe succeeds; see `details.retryInMs` and the endpoint's health in the reported properties.",
  },
  OPCUA_ENDPOINT_UNKNOWN: {
    retryable: false,
    summary:
      'The request names an endpoint the connector does not know and may not open on its own. Configure it (twin `endpoints` or `publishedNodes`) or check the `endpointUrl` spelling.',
  },
  OPCUA_NOT_CONFIGURED: {
    retryable: true,
    summary:
      'The connector has just started and has not applied its module twin yet, so it does not know the endpoint the command names. Retry in a moment (the orchestrator treats it as DEVICE_UNREACHABLE); if it persists, check that the twin reaches the module.',
  },
  OPCUA_CONNECT_FAILED: {
    retryable: true,
    summary:
      'The connector could not reach the OPC UA server (connection refused, host unreachable, no endpoint). It keeps retrying with backoff; check the server and the `EndpointUrl`.',
  },
  OPCUA_REQUEST_INVALID: {
    retryable: false,
    summary:
      'A request or configuration entry is malformed (a NodeId that does not parse, an unknown option, an inline password in the twin). The message says which field; fix it and send it again.',
  },
  OPCUA_WATCH_UNKNOWN: {
    retryable: false,
    summary: 'The `watchId` given to `unwatch` is not active. `GetDiagnosticInfo_V1` lists the active watches.',
  },
  OPCUA_QUEUE_FULL: {
    retryable: true,
    summary:
      'A bounded queue is full (telemetry backlog towards edgeHub, or too many commands in flight). Values are dropped and counted in `valuesDropped`; commands may be retried later.',
  },
} as const satisfies ErrorCatalog;

export type ConnectorErrorCode = keyof typeof errorCatalog;

/** Errors raised by the OPC UA connector. */
export class ConnectorError extends TaktError<ConnectorErrorCode> {
  constructor(code: ConnectorErrorCode, message: string, options: TaktErrorOptions = {}) {
    super(code, message, errorCatalog[code].retryable, options);
    this.name = 'ConnectorError';
  }
}
