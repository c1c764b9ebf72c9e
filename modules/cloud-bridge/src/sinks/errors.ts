import { errorCatalog as edgeKitCatalog, errorMessage, isCodedError } from '@takt/edge-kit';
import { CloudBridgeError, errorCatalog } from '../errors.js';

/** The HTTP status of an Azure SDK error (`RestError.statusCode`), if any. */
export function statusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const status = (error as { statusCode?: unknown }).statusCode;
  return typeof status === 'number' ? status : undefined;
}

/**
 * Translates an SDK error at the sink boundary: a definitive refusal of the payload (400, 413, 422)
 * becomes SINK_REJECTED (not retryable: the event is dead-lettered); everything else (network, 401/403
 * while credentials are fixed, 408, 429, 5xx, timeouts) is SINK_UNAVAILABLE (retried).
 */
export function translateSinkError(sink: string, error: unknown): Error {
  // Ours pass through; the SDKs' own coded errors (ServiceBusError has `code` and `retryable` too) are
  // translated: their `retryable: false` often means "not retried by the SDK", not "never deliverable".
  if (isCodedError(error) && (error.code in errorCatalog || error.code in edgeKitCatalog)) return error;
  // A stored event that no longer parses (it was validated when appended) can never be delivered.
  if (error instanceof SyntaxError || (error instanceof Error && error.name === 'ZodError')) {
    return new CloudBridgeError('SINK_REJECTED', `${sink}: stored event is unreadable: ${errorMessage(error)}`, {
      cause: error,
      details: { sink },
    });
  }
  const status = statusOf(error);
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  const details = { sink, ...(status === undefined ? {} : { status }), ...(typeof code === 'string' ? { code } : {}) };
  if (status === 400 || status === 413 || status === 422 || code === 'MessageSizeExceeded') {
    return new CloudBridgeError('SINK_REJECTED', `${sink} refused the event: ${errorMessage(error)}`, {
      cause: error,
      details,
    });
  }
  return new CloudBridgeError('SINK_UNAVAILABLE', `${sink} unavailable: ${errorMessage(error)}`, {
    cause: error,
    details,
  });
}
