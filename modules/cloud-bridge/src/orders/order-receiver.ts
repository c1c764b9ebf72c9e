import type { ProcessErrorArgs, ServiceBusReceivedMessage, ServiceBusReceiver } from '@azure/service-bus';
import { type Logger, configProblems, errorMessage } from '@takt/edge-kit';
import { type Order, OrderSchema } from '../domain/contracts.js';

export interface OrderReceiverOptions {
  receiver: Pick<
    ServiceBusReceiver,
    'subscribe' | 'completeMessage' | 'deadLetterMessage' | 'abandonMessage' | 'close'
  >;
  /**
   * Hands a valid order to the orchestrator durably (an outbox append committed to SQLite). Synchronous:
   * when it returns, the order survives a crash; only then is the queue message completed.
   */
  accept(order: Order): 'accepted' | 'duplicate';
  logger: Logger;
}

export interface OrderReceiverHealth {
  enabled: boolean;
  received: number;
  accepted: number;
  duplicates: number;
  deadLettered: number;
  lastError: string | null;
}

function parseBody(body: unknown): unknown {
  if (Buffer.isBuffer(body)) body = body.toString('utf8');
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as unknown;
    } catch {
      return body;
    }
  }
  return body;
}

/**
 * Production orders in from a Service Bus queue (peek-lock): a valid order is committed to the outbox
 * for the orchestrator's `orders` input and then completed; an invalid one is dead-lettered with reason
 * `OrderInvalid` and the problems as description; if the hand-over fails the message is abandoned and
 * comes back. A crash between commit and complete redelivers the order, which the inbox recognises.
 */
export class OrderReceiver {
  private subscription: { close(): Promise<void> } | undefined;
  private readonly logger: Logger;
  private lastErrorLogAt = 0;
  private suppressedErrors = 0;
  readonly counters: Omit<OrderReceiverHealth, 'enabled'> = {
    received: 0,
    accepted: 0,
    duplicates: 0,
    deadLettered: 0,
    lastError: null,
  };

  constructor(private readonly options: OrderReceiverOptions) {
    this.logger = options.logger.child({ component: 'orders' });
  }

  start(): void {
    if (this.subscription) return;
    this.subscription = this.options.receiver.subscribe(
      {
        processMessage: (message) => this.onMessage(message),
        processError: (args: ProcessErrorArgs) => {
          this.counters.lastError = errorMessage(args.error);
          this.logger.warn('orders queue receiver error; the SDK retries', {
            error: args.error,
            source: args.errorSource,
          });
          return Promise.resolve();
        },
      },
      { autoCompleteMessages: false, maxConcurrentCalls: 1 },
    );
  }

  /** Stops taking messages (the receiver stays usable for a later `start()`). */
  async stop(): Promise<void> {
    const subscription = this.subscription;
    this.subscription = undefined;
    await subscription?.close();
  }

  async close(): Promise<void> {
    await this.stop();
    await this.options.receiver.close();
  }

  private async onMessage(message: ServiceBusReceivedMessage): Promise<void> {
    this.counters.received += 1;
    const parsed = OrderSchema.safeParse(parseBody(message.body));
    if (!parsed.success) {
      const problems = configProblems(parsed.error);
      const description = problems
        .map((p) => `${p.path || '(body)'}: ${p.message}`)
        .join('; ')
        .slice(0, 1000);
      this.logger.warn('invalid order dead-lettered', { messageId: message.messageId, problems: problems.slice(0, 5) });
      await this.options.receiver.deadLetterMessage(message, {
        deadLetterReason: 'OrderInvalid',
        deadLetterErrorDescription: description,
      });
      this.counters.deadLettered += 1;
      return;
    }
    let outcome: 'accepted' | 'duplicate';
    try {
      outcome = this.options.accept(parsed.data);
    } catch (error) {
      this.counters.lastError = errorMessage(error);
      this.logger.error('could not store an order; abandoning it so that it comes back', { error });
      await this.options.receiver.abandonMessage(message);
      return;
    }
    if (outcome === 'duplicate') this.counters.duplicates += 1;
    else this.counters.accepted += 1;
    await this.options.receiver.completeMessage(message);
  }
}
