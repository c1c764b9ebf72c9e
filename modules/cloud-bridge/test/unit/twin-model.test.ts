import { describe, expect, it } from 'vitest';
import {
  type StatusEvent,
  StatusEventSchema,
  OrderSchema,
  propertiesFor,
  structureFor,
  toCloudEvent,
  toServiceBusMessage,
  twinId,
} from '../../src/index.js';

const base: StatusEvent = {
  eventId: 'run-1:2',
  type: 'step.completed',
  instanceId: 'run-1',
  workflowId: 'mix',
  workflowVersion: 'v1',
  state: 'running',
  step: 'dose',
  at: '2026-11-25T10:00:00.000Z',
  site: 'plant 1',
  line: 'l2',
  unit: 'mixer/1',
  seq: 2,
};

describe('status event → twins, topic messages, CloudEvents', () => {
  it('validates the contract and refuses unknown fields and bad values', () => {
    expect(StatusEventSchema.safeParse(base).success).toBe(true);
    expect(StatusEventSchema.safeParse({ ...base, extra: 1 }).success).toBe(false);
    expect(StatusEventSchema.safeParse({ ...base, seq: 0 }).success).toBe(false);
    expect(StatusEventSchema.safeParse({ ...base, type: 'nope' }).success).toBe(false);
    expect(OrderSchema.safeParse({ orderId: 'o', workflowId: 'w', priority: 10 }).success).toBe(false);
  });

  it('derives safe twin ids, the hierarchy and the run relationships', () => {
    expect(twinId('unit', 'plant 1', 'l2', 'mixer/1')).toBe('unit-plant_1-l2-mixer_1');
    const { twins, relationships } = structureFor(base);
    expect(twins.map((t) => t.id)).toEqual([
      'site-plant_1',
      'line-plant_1-l2',
      'unit-plant_1-l2-mixer_1',
      'workflow-mix',
      'run-run-1',
    ]);
    expect(relationships.map((r) => `${r.sourceId} ${r.name} ${r.targetId}`)).toEqual([
      'site-plant_1 contains line-plant_1-l2',
      'line-plant_1-l2 contains unit-plant_1-l2-mixer_1',
      'workflow-mix hasRun run-run-1',
      'run-run-1 runsOn unit-plant_1-l2-mixer_1',
    ]);
    const { relationships: noPlace } = structureFor({ ...base, site: undefined, line: undefined, unit: undefined });
    expect(noPlace.map((r) => r.name)).toEqual(['hasRun']);
  });

  it('maps properties with absolute values (replaying is harmless) and frees the unit at the end', () => {
    const props = propertiesFor({
      ...base,
      type: 'instance.completed',
      state: 'completed',
      variables: { n: 1, x: null },
    });
    expect(props.get('run-run-1')).toMatchObject({
      state: 'completed',
      seq: 2,
      endedAt: base.at,
      variables: { n: '1', x: '' },
    });
    expect(props.get('unit-plant_1-l2-mixer_1')).toMatchObject({ currentRunId: '' });
  });

  it('builds the Service Bus message and the CloudEvent', () => {
    const body = Buffer.from(JSON.stringify(base));
    const m = toServiceBusMessage({
      seq: 1,
      id: base.eventId,
      channel: 'serviceBus',
      source: 'run-1',
      sourceSeq: 1,
      body,
      contentType: 'application/json',
      properties: {},
      createdAt: 0,
      attempts: 0,
    });
    expect(m).toMatchObject({
      messageId: 'run-1:2',
      sessionId: 'run-1',
      subject: 'step.completed',
      applicationProperties: { workflow: 'mix', state: 'running', site: 'plant 1', line: 'l2', seq: 2 },
    });
    expect(toCloudEvent(base)).toMatchObject({
      id: 'run-1:2',
      type: 'com.takt.workflow.step.completed',
      source: '/takt/plant 1/l2/orchestrator',
      subject: 'workflows/mix/instances/run-1',
      data: base,
    });
  });
});
