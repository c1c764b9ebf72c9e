import type { ServiceBusMessage, ServiceBusSender } from '@azure/service-bus';
import type { OutboxMessage } from '@takt/edge-kit';
import { StatusEventSchema } from '../domain/contracts.js';
import { translateSinkError } from './errors.js';
import type { Sink } from './sink.js';

/**
 * Sends every status event to a Service Bus topic: `messageId` = event id (duplicate detection),
 * `sessionId` = instance id (ordering), `subject` = event type, application properties for
 * subscription rules (`workflow`, `state`, `site`, `line`, `unit`, `severity`, `type`, `instanceId`,
 * `seq`, `step`, and `errorCode` when the event carries an `error`). A batch goes out as one AMQP batch transfer, in outbox order.
 */
export class ServiceBusSink implements Sink {
  readonly name = 'serviceBus' as const;

  constructor(private readonly sender: Pick<ServiceBusSender, 'sendMessages' | 'close'>) {}

  async deliver(batch: readonly OutboxMessage[], signal: AbortSignal): Promise<void> {
    const messages: ServiceBusMessage[] = batch.map((m) => toServiceBusMessage(m));
    try {
      await this.sender.sendMessages(messages, { abortSignal: signal });
    } catch (error) {
      throw translateSinkError('Service Bus', error);
    }
  }

  async close(): Promise<void> {
    await this.sender.close();
  }
}

export function toServiceBusMessage(message: OutboxMessage): ServiceBusMessage {
  const event = StatusEventSchema.parse(JSON.parse(message.body.toString('utf8')));
  const props: Record<string, string | number> = {
    type: event.type,
    workflow: event.workflowId,
    state: event.state,
    instanceId: event.instanceId,
    seq: event.seq,
  };
  if (event.site !== undefined) props['site'] = event.site;
  if (event.line !== undefined) props['line'] = event.line;
  if (event.unit !== undefined) props['unit'] = event.unit;
  if (event.severity !== undefined) props['severity'] = event.severity;
  if (event.step !== undefined) props['step'] = event.step;
  if (event.error !== undefined) props['errorCode'] = event.error.code;
  return {
    messageId: event.eventId,
    sessionId: event.instanceId,
    subject: event.type,
    contentType: 'application/json',
    body: event,
    applicationProperties: props,
  };
}
