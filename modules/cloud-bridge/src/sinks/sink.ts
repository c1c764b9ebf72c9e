import type { OutboxMessage } from '@takt/edge-kit';

/** A cloud destination fed from its own outbox. */
export interface Sink {
  /** `digitalTwins`, `serviceBus`, `eventGrid`: also the key in reported `health`. */
  readonly name: SinkName;
  /** Delivers a batch in order; resolves once the service confirmed all of it. */
  deliver(batch: readonly OutboxMessage[], signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export type SinkName = 'digitalTwins' | 'serviceBus' | 'eventGrid';
