/**
 * The status contract between the orchestrator (output `status`) and cloud-bridge (input `status`):
 * every event the orchestrator's `StatusEvent` type allows — each event type, with and without the
 * optional members — must pass cloud-bridge's `StatusEventSchema`, and reach the Service Bus and
 * Digital Twins mappings with its error code. Typed with the orchestrator's own export, so a field added
 * there without cloud-bridge following fails here.
 */
import {
  MAX_ERROR_MESSAGE,
  StatusEventSchema,
  propertiesFor,
  runTwinId,
  statusEventTypes,
  toServiceBusMessage,
} from '@takt/cloud-bridge';
import type { OutboxMessage } from '@takt/edge-kit';
import type { StatusEvent } from '@takt/orchestrator';
import { describe, expect, it } from 'vitest';

type OrchestratorEventType = StatusEvent['type'];

/** One event per type, as the orchestrator builds them (src/app/orchestrator.ts, src/edge/emitter.ts). */
const byType = {
  'instance.started': { state: 'running' },
  'instance.state': { state: 'holding' },
  'step.started': { state: 'running', step: 'dose' },
  'step.completed': { state: 'completed', step: 'dose' },
  'step.failed': {
    state: 'failed',
    step: 'dose',
    error: { code: 'DEVICE_TIMEOUT', message: 'write of Reactor.TemperatureSetpoint timed out' },
  },
  'instance.completed': { state: 'completed' },
  'instance.failed': { state: 'failed', error: { code: 'ORCH_ABORTED', message: 'aborted by sue: smell of burning' } },
  alert: {
    state: 'running',
    step: 'heat',
    severity: 'critical',
    error: { code: 'PLANT_ALARM', message: 'Reactor over-temperature' },
  },
} as const satisfies Record<OrchestratorEventType, Partial<StatusEvent>>;

function event(type: OrchestratorEventType, seq: number, extra: Partial<StatusEvent> = {}): StatusEvent {
  return {
    eventId: `0123456789abcdef0123456789abcd${String(seq).padStart(2, '0')}`,
    type,
    instanceId: 'run-7',
    workflowId: 'batch',
    workflowVersion: '3f2a9c',
    at: '2026-11-25T10:00:00.000Z',
    site: 'plant-1',
    line: 'line-2',
    unit: 'Reactor',
    ...byType[type],
    ...extra,
    seq,
  };
}

/** The cloud-bridge outbox row a status event becomes. */
function outboxMessage(body: StatusEvent): OutboxMessage {
  return {
    seq: body.seq,
    id: body.eventId,
    channel: 'serviceBus',
    source: body.instanceId,
    sourceSeq: body.seq,
    body: Buffer.from(JSON.stringify(body)),
    contentType: 'application/json',
    properties: {},
    createdAt: 0,
    attempts: 0,
  };
}

describe('status contract: orchestrator → cloud-bridge', () => {
  it('knows the same event types', () => {
    expect([...statusEventTypes].sort()).toEqual(Object.keys(byType).sort());
  });

  it.each(statusEventTypes.map((type, i) => [type, i + 1] as const))('accepts %s', (type, seq) => {
    const sent = event(type, seq);
    const parsed = StatusEventSchema.safeParse(JSON.parse(JSON.stringify(sent)));
    expect(parsed.error?.issues ?? []).toEqual([]);
    expect(parsed.data).toEqual(sent);
  });

  it('accepts the smallest event (no plant context, no step) and the orchestrator\'s "?" placeholders', () => {
    const bare: StatusEvent = {
      eventId: 'e1',
      type: 'step.failed',
      instanceId: 'run-8',
      workflowId: '?',
      workflowVersion: '?',
      state: 'unknown',
      at: '2026-11-25T10:00:00.000+01:00',
      error: { code: 'HANDLER_FAILED', message: '' },
      seq: 1,
    };
    expect(StatusEventSchema.safeParse(bare).error?.issues ?? []).toEqual([]);
  });

  it('accepts summary variables the way the orchestrator cuts them (JSON ≤ 256 characters, longer as a string)', () => {
    const long = JSON.stringify({ notes: 'x'.repeat(400) });
    const sent = event('instance.state', 9, {
      variables: {
        batch: 'B-42',
        litres: 50.5,
        approved: true,
        lot: null,
        dosing: { tankA: 50, tankB: 30 },
        units: ['TankA', 'TankB'],
        notes: `${long.slice(0, 250)}…`,
      },
    });
    const parsed = StatusEventSchema.parse(sent);
    expect(propertiesFor(parsed).get(runTwinId('run-7'))?.['variables']).toMatchObject({
      batch: 'B-42',
      litres: '50.5',
      lot: '',
      dosing: '{"tankA":50,"tankB":30}',
      units: '["TankA","TankB"]',
    });
  });

  it('cuts a long error message instead of refusing the event, and drops unknown error members', () => {
    const sent = {
      ...event('instance.failed', 10),
      error: { code: 'HANDLER_FAILED', message: 'm'.repeat(5000), details: { attempt: 3 } },
    };
    const parsed = StatusEventSchema.parse(sent);
    expect(parsed.error?.message).toHaveLength(MAX_ERROR_MESSAGE);
    expect(parsed.error?.message.endsWith('…')).toBe(true);
    expect(parsed.error).not.toHaveProperty('details');
    // the sinks parse the stored (already cut) event again: the result must not change
    expect(StatusEventSchema.parse(JSON.parse(JSON.stringify(parsed)))).toEqual(parsed);
  });

  it('carries the error code to Service Bus as the `errorCode` application property', () => {
    const failed = event('step.failed', 5);
    const message = toServiceBusMessage(outboxMessage(failed));
    expect(message.applicationProperties).toMatchObject({ type: 'step.failed', errorCode: 'DEVICE_TIMEOUT', seq: 5 });
    expect(message.body).toMatchObject({ error: { code: 'DEVICE_TIMEOUT' } });
    const started = toServiceBusMessage(outboxMessage(event('step.started', 4)));
    expect(started.applicationProperties).not.toHaveProperty('errorCode');
  });

  it('refuses what is really wrong (so the schema stays strict)', () => {
    expect(StatusEventSchema.safeParse({ ...event('step.failed', 6), surprise: 1 }).success).toBe(false);
    expect(StatusEventSchema.safeParse({ ...event('step.failed', 6), error: { message: 'no code' } }).success).toBe(
      false,
    );
    expect(StatusEventSchema.safeParse({ ...event('step.started', 6), seq: 0 }).success).toBe(false);
  });
});
