/**
 * OPC UA status codes and node-opcua errors → connector error codes (pure). The table is the
 * documented contract (README "Error codes"); the original status name travels on
 * `details.statusCode`.
 */
import { isCodedError } from '@takt/edge-kit';
import { ConnectorError, type ConnectorErrorCode } from '../errors.js';

interface Mapping {
  code: ConnectorErrorCode;
  /** Overrides the catalog's `retryable`. */
  retryable?: boolean;
}

const BY_STATUS: Readonly<Record<string, Mapping>> = {
  BadNodeIdUnknown: { code: 'OPCUA_NODE_NOT_FOUND' },
  BadNodeIdInvalid: { code: 'OPCUA_NODE_NOT_FOUND' },
  BadMethodInvalid: { code: 'OPCUA_NODE_NOT_FOUND' },
  BadBrowseNameInvalid: { code: 'OPCUA_NODE_NOT_FOUND' },
  BadNoMatch: { code: 'OPCUA_NODE_NOT_FOUND' },
  BadAttributeIdInvalid: { code: 'OPCUA_NODE_NOT_FOUND' },
  BadTypeMismatch: { code: 'OPCUA_TYPE_MISMATCH' },
  BadArgumentsMissing: { code: 'OPCUA_TYPE_MISMATCH' },
  BadTooManyArguments: { code: 'OPCUA_TYPE_MISMATCH' },
  BadDataEncodingInvalid: { code: 'OPCUA_TYPE_MISMATCH' },
  BadIndexRangeInvalid: { code: 'OPCUA_TYPE_MISMATCH' },
  BadUserAccessDenied: { code: 'OPCUA_ACCESS_DENIED' },
  BadNotWritable: { code: 'OPCUA_ACCESS_DENIED' },
  BadNotReadable: { code: 'OPCUA_ACCESS_DENIED' },
  BadNotExecutable: { code: 'OPCUA_ACCESS_DENIED' },
  BadIdentityTokenRejected: { code: 'OPCUA_AUTH_FAILED' },
  BadIdentityTokenInvalid: { code: 'OPCUA_AUTH_FAILED' },
  BadSessionIdInvalid: { code: 'OPCUA_SESSION_LOST' },
  BadSessionClosed: { code: 'OPCUA_SESSION_LOST' },
  BadSessionNotActivated: { code: 'OPCUA_SESSION_LOST' },
  BadConnectionClosed: { code: 'OPCUA_SESSION_LOST' },
  BadSecureChannelClosed: { code: 'OPCUA_SESSION_LOST' },
  BadSecureChannelIdInvalid: { code: 'OPCUA_SESSION_LOST' },
  BadServerNotConnected: { code: 'OPCUA_SESSION_LOST' },
  BadNotConnected: { code: 'OPCUA_SESSION_LOST' },
  BadCommunicationError: { code: 'OPCUA_SESSION_LOST' },
  BadNoCommunication: { code: 'OPCUA_SESSION_LOST' },
  BadServerHalted: { code: 'OPCUA_SESSION_LOST' },
  BadShutdown: { code: 'OPCUA_SESSION_LOST' },
  BadTimeout: { code: 'OPCUA_TIMEOUT' },
  BadRequestTimeout: { code: 'OPCUA_TIMEOUT' },
  BadSecurityChecksFailed: { code: 'OPCUA_SECURITY_REJECTED' },
  BadSecurityPolicyRejected: { code: 'OPCUA_SECURITY_REJECTED' },
  BadSecurityModeRejected: { code: 'OPCUA_SECURITY_REJECTED' },
  BadCertificateUntrusted: { code: 'OPCUA_SECURITY_REJECTED' },
  BadCertificateInvalid: { code: 'OPCUA_SECURITY_REJECTED' },
  BadCertificateTimeInvalid: { code: 'OPCUA_SECURITY_REJECTED' },
  BadCertificateRevoked: { code: 'OPCUA_SECURITY_REJECTED' },
  BadCertificateUriInvalid: { code: 'OPCUA_SECURITY_REJECTED' },
  BadCertificateHostNameInvalid: { code: 'OPCUA_SECURITY_REJECTED' },
  BadCertificateUseNotAllowed: { code: 'OPCUA_SECURITY_REJECTED' },
  BadTooManyOperations: { code: 'OPCUA_BAD_STATUS', retryable: true },
  BadTooManySessions: { code: 'OPCUA_BAD_STATUS', retryable: true },
  BadResourceUnavailable: { code: 'OPCUA_BAD_STATUS', retryable: true },
  BadServerTooBusy: { code: 'OPCUA_BAD_STATUS', retryable: true },
  BadOutOfMemory: { code: 'OPCUA_BAD_STATUS', retryable: true },
};

/** The connector error code (and retryability) for an OPC UA status name. */
export function mappingForStatus(statusName: string): Mapping {
  return BY_STATUS[statusName] ?? { code: 'OPCUA_BAD_STATUS' };
}

/** True for a status that is neither Good nor Uncertain. */
export function isBadStatus(statusValue: number): boolean {
  return (statusValue & 0x80000000) !== 0;
}

/** An error for a bad status returned by a service for one operation. */
export function errorForStatus(
  statusName: string,
  what: string,
  details: Readonly<Record<string, unknown>> = {},
): ConnectorError {
  const mapping = mappingForStatus(statusName);
  const options = {
    details: { statusCode: statusName, ...details },
    ...(mapping.retryable === undefined ? {} : { retryable: mapping.retryable }),
  };
  return new ConnectorError(mapping.code, `${what}: the server answered ${statusName}`, options);
}

const STATUS_IN_TEXT = /\b(Bad[A-Z][A-Za-z]+)\b/;

/**
 * Translates anything node-opcua throws into a connector error. Coded errors pass through; a status
 * name in the message picks the code; transport failures become OPCUA_SESSION_LOST or
 * OPCUA_CONNECT_FAILED; timeouts OPCUA_TIMEOUT.
 */
export function translateError(error: unknown, what: string, details: Readonly<Record<string, unknown>> = {}): Error {
  if (isCodedError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  const status = STATUS_IN_TEXT.exec(message)?.[1];
  if (status !== undefined) {
    const mapped = errorForStatus(status, what, details);
    return new ConnectorError(mapped.code, mapped.message, {
      cause: error,
      details: mapped.details ?? {},
      retryable: mapped.retryable,
    });
  }
  if (/timeout|timed out/i.test(message)) {
    return new ConnectorError('OPCUA_TIMEOUT', `${what}: no answer in time (${message})`, { cause: error, details });
  }
  if (/ECONNREFUSED|EHOSTUNREACH|ENOTFOUND|ENETUNREACH|cannot connect|connection refused/i.test(message)) {
    return new ConnectorError('OPCUA_CONNECT_FAILED', `${what}: cannot reach the server (${message})`, {
      cause: error,
      details,
    });
  }
  return new ConnectorError('OPCUA_SESSION_LOST', `${what}: ${message}`, { cause: error, details });
}
