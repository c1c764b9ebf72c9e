/**
 * Translates what the opcua-connector answers (or the failure to reach it) into the workflow runtime
 * error codes (`runtimeErrorCatalog` in @takt/workflow), so a definition's `retry` and `catch` can name
 * them. The connector's own code stays on `details.connectorCode`.
 */
import { TaktError, isCodedError } from '@takt/edge-kit';

export type DeviceOperation = 'read' | 'write' | 'call' | 'watch' | 'unwatch';

export type DeviceErrorCode =
  | 'DEVICE_UNREACHABLE'
  | 'DEVICE_BAD_STATUS'
  | 'DEVICE_WRITE_REJECTED'
  | 'DEVICE_READBACK_MISMATCH'
  | 'DEVICE_METHOD_FAILED'
  | 'CIRCUIT_OPEN';

const retryableCodes: Record<DeviceErrorCode, boolean> = {
  DEVICE_UNREACHABLE: true,
  DEVICE_BAD_STATUS: false,
  DEVICE_WRITE_REJECTED: false,
  DEVICE_READBACK_MISMATCH: true,
  DEVICE_METHOD_FAILED: false,
  CIRCUIT_OPEN: true,
};

/** A device error as workflows see it; `code` is a runtime error code. */
export class DeviceError extends TaktError<DeviceErrorCode> {
  constructor(code: DeviceErrorCode, message: string, details: Record<string, unknown>, cause?: unknown) {
    super(code, message, retryableCodes[code], { details, ...(cause === undefined ? {} : { cause }) });
    this.name = 'DeviceError';
  }
}

const UNREACHABLE = new Set([
  'OPCUA_SESSION_LOST',
  'OPCUA_TIMEOUT',
  'OPCUA_CONNECT_FAILED',
  'OPCUA_NOT_CONFIGURED',
  'OPCUA_QUEUE_FULL',
  'NOT_CONNECTED',
  'OPERATION_TIMEOUT',
]);
const REFUSED = new Set(['OPCUA_ACCESS_DENIED', 'OPCUA_TYPE_MISMATCH', 'OPCUA_SECURITY_REJECTED', 'OPCUA_AUTH_FAILED']);

/** Maps a connector error body `{code, message, retryable}` for an operation to a runtime code. */
export function deviceErrorCode(operation: DeviceOperation, connectorCode: string): DeviceErrorCode {
  if (connectorCode === 'OPCUA_CIRCUIT_OPEN' || connectorCode === 'CIRCUIT_OPEN') return 'CIRCUIT_OPEN';
  if (UNREACHABLE.has(connectorCode)) return 'DEVICE_UNREACHABLE';
  if (/READ_?BACK/i.test(connectorCode)) return 'DEVICE_READBACK_MISMATCH';
  if (REFUSED.has(connectorCode) || connectorCode === 'OPCUA_BAD_STATUS' || connectorCode === 'OPCUA_NODE_NOT_FOUND') {
    if (operation === 'write') return 'DEVICE_WRITE_REJECTED';
    if (operation === 'call') return 'DEVICE_METHOD_FAILED';
    return 'DEVICE_BAD_STATUS';
  }
  if (operation === 'call') return 'DEVICE_METHOD_FAILED';
  return 'DEVICE_BAD_STATUS';
}

/** Builds the DeviceError for a non-200 method answer (status + body) or a thrown transport error. */
export function toDeviceError(
  operation: DeviceOperation,
  failure: { status: number; payload: unknown } | { thrown: unknown },
  context: { endpointUrl?: string; nodeId?: string },
): DeviceError {
  if ('thrown' in failure) {
    const error = failure.thrown;
    if (error instanceof DeviceError) return error;
    const code = isCodedError(error) ? error.code : 'NOT_CONNECTED';
    const mapped =
      isCodedError(error) && error.code === 'CIRCUIT_OPEN' ? 'CIRCUIT_OPEN' : deviceErrorCode(operation, code);
    const message = error instanceof Error ? error.message : String(error);
    // A transport failure (edgeHub or the connector unreachable) is always worth retrying.
    return new DeviceError(
      UNREACHABLE.has(code) || mapped === 'CIRCUIT_OPEN' ? mapped : 'DEVICE_UNREACHABLE',
      `opcua-connector ${operation}: ${message}`,
      { ...context, connectorCode: code },
      error,
    );
  }
  const body = failure.payload;
  const coded =
    typeof body === 'object' && body !== null && typeof (body as { code?: unknown }).code === 'string'
      ? (body as { code: string; message?: unknown; details?: unknown })
      : undefined;
  if (coded === undefined) {
    // 404 = the connector is not connected or has no such method; 504 = it did not answer in time.
    return new DeviceError('DEVICE_UNREACHABLE', `opcua-connector ${operation} answered ${failure.status}`, {
      ...context,
      status: failure.status,
    });
  }
  const code = deviceErrorCode(operation, coded.code);
  const details: Record<string, unknown> = { ...context, connectorCode: coded.code, status: failure.status };
  if (coded.details !== undefined) details['connectorDetails'] = coded.details;
  return new DeviceError(code, typeof coded.message === 'string' ? coded.message : coded.code, details);
}
