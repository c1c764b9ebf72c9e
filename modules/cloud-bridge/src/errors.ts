import { type ErrorCatalog, TaktError, type TaktErrorOptions } from '@takt/edge-kit';

/** The codes of cloud-bridge. See docs/errors.md. */
export const errorCatalog = {
  CLOUD_CONFIG_INVALID: {
    retryable: false,
    summary:
      'An environment variable of cloud-bridge is invalid or a sink is half configured (e.g. a Service Bus namespace without a credential); `details.problems` lists them. Fix the environment (see the module README) and restart.',
  },
  STATUS_EVENT_INVALID: {
    retryable: false,
    summary:
      'A message on the `status` input does not match the status event contract; it is refused and logged with the problems. Fix the producer (the orchestrator) to emit the documented shape.',
  },
  ORDER_INVALID: {
    retryable: false,
    summary:
      'A production order on the Service Bus queue does not match the order contract; it is dead-lettered with reason `OrderInvalid` and the problems as description. Correct and resend it from the dead-letter queue.',
  },
  SINK_UNAVAILABLE: {
    retryable: true,
    summary:
      'A cloud sink (Digital Twins, Service Bus, Event Grid) could not be reached or answered with a transient error; the events stay in its outbox and are retried with backoff. Check the network, the credentials and the service health in `health` reported properties.',
  },
  SINK_REJECTED: {
    retryable: false,
    summary:
      'A cloud sink refused one event for good (bad request, too large); the event is parked in that sink’s dead-letter table in the module database. Inspect it there; the sink continues with the next event.',
  },
  TWIN_CONFLICT: {
    retryable: true,
    summary:
      'A Digital Twins update kept failing its ETag check (another writer changed the twin between re-read and write); it is retried. Look for a second writer of the same twins.',
  },
} as const satisfies ErrorCatalog;

export type CloudBridgeErrorCode = keyof typeof errorCatalog;

/** The one error class of cloud-bridge. */
export class CloudBridgeError extends TaktError<CloudBridgeErrorCode> {
  constructor(code: CloudBridgeErrorCode, message: string, options: TaktErrorOptions = {}) {
    super(code, message, errorCatalog[code].retryable, options);
    this.name = 'CloudBridgeError';
  }
}
