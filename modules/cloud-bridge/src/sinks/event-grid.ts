import type { EventGridPublisherClient, SendCloudEventInput } from '@azure/eventgrid';
import type { OutboxMessage } from '@takt/edge-kit';
import { type StatusEvent, StatusEventSchema } from '../domain/contracts.js';
import { translateSinkError } from './errors.js';
import type { Sink } from './sink.js';

/**
 * Publishes lifecycle events as CloudEvents 1.0 (`type` = `com.takt.workflow.<event type>`,
 * `source` = `/takt/<site>/<line>/orchestrator`, `subject` = `workflows/<workflowId>/instances/<instanceId>`,
 * `id` = event id, `data` = the status event).
 */
export class EventGridSink implements Sink {
  readonly name = 'eventGrid' as const;

  constructor(private readonly client: Pick<EventGridPublisherClient<'CloudEvent'>, 'send'>) {}

  async deliver(batch: readonly OutboxMessage[], signal: AbortSignal): Promise<void> {
    const events = batch.map((m) => toCloudEvent(StatusEventSchema.parse(JSON.parse(m.body.toString('utf8')))));
    try {
      await this.client.send(events, { abortSignal: signal });
    } catch (error) {
      throw translateSinkError('Event Grid', error);
    }
  }

  async close(): Promise<void> {
    // HTTP only: nothing to close
  }
}

export function toCloudEvent(event: StatusEvent): SendCloudEventInput<StatusEvent> {
  return {
    id: event.eventId,
    type: `com.takt.workflow.${event.type}`,
    source: `/takt/${event.site ?? '_'}/${event.line ?? '_'}/orchestrator`,
    subject: `workflows/${event.workflowId}/instances/${event.instanceId}`,
    time: new Date(event.at),
    datacontenttype: 'application/json',
    data: event,
  };
}
