import {
  CircuitBreaker,
  type CircuitState,
  type Logger,
  Outbox,
  OutboxSender,
  type SqliteDatabase,
  isRetryable,
} from '@takt/edge-kit';
import type { Sink, SinkName } from './sink.js';

export interface SinkChannelOptions {
  sink: Sink;
  db: SqliteDatabase;
  logger: Logger;
  batchSize: number;
  initialRetryDelayMs: number;
  maxRetryDelayMs: number;
  breakerFailures: number;
  breakerOpenMs: number;
}

/** A sink's health as reported in the module twin (`health.<sink>`). */
export interface SinkHealth {
  enabled: boolean;
  circuit: CircuitState;
  pending: number;
  sent: number;
  failures: number;
  deadLettered: number;
  lastError: string | null;
}

/**
 * One sink with its own durable outbox (table `sink_<name>_*`), an in-order sender with backoff, and a
 * circuit breaker: an offline sink buffers, the others keep going, and a recovered sink drains in
 * outbox order — which keeps per-instance order, since events of an instance are appended in order.
 */
export class SinkChannel {
  readonly name: SinkName;
  readonly outbox: Outbox;
  readonly breaker: CircuitBreaker;
  private readonly sender: OutboxSender;
  private running = false;
  enabled = true;

  constructor(readonly options: SinkChannelOptions) {
    this.name = options.sink.name;
    this.outbox = new Outbox(options.db, { name: `sink_${options.sink.name.toLowerCase()}` });
    const logger = options.logger.child({ sink: this.name });
    this.breaker = new CircuitBreaker({
      name: this.name,
      failureThreshold: options.breakerFailures,
      openMs: options.breakerOpenMs,
      // a refused event is the event's fault, not the service's
      isFailure: (error) => isRetryable(error),
      onStateChange: (state, previous) => logger.warn('circuit changed', { state, previous }),
    });
    this.sender = new OutboxSender(this.outbox, {
      batchSize: options.batchSize,
      initialRetryDelayMs: options.initialRetryDelayMs,
      maxRetryDelayMs: options.maxRetryDelayMs,
      pollIntervalMs: 1_000,
      logger,
      send: (batch, signal) => this.breaker.execute(() => options.sink.deliver(batch, signal)),
    });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.sender.start();
  }

  async close(): Promise<void> {
    this.running = false;
    await this.sender.close();
    await this.options.sink.close();
  }

  /** Resolves once everything appended so far was delivered. */
  idle(timeoutMs?: number): Promise<void> {
    return this.sender.idle(timeoutMs);
  }

  health(): SinkHealth {
    const s = this.sender.stats();
    return {
      enabled: this.enabled,
      circuit: this.breaker.state,
      pending: s.pending,
      sent: s.sent,
      failures: s.failures,
      deadLettered: this.outbox.deadSize(),
      lastError: s.lastError ?? null,
    };
  }
}
