/**
 * The sample batch on the whole suite: order with the `small` recipe → dosing, heating, sample → the
 * supervisor's approval (a wrong password first: refused and audited) → fill → release; then the
 * plant's counters, the audit trail (chain intact, the e-signature, every device write), what
 * cloud-bridge delivered to the Service Bus topic and Digital Twins, and the upstream messages.
 */
import { waitFor } from '@takt/test-support';
import { describe, expect, it } from 'vitest';
import { digitalTwin, digitalTwinsWrites, openTopicReader } from './src/azure.js';
import {
  MethodCallError,
  auditRecords,
  callMethod,
  plantSnapshot,
  plantStates,
  plantValue,
  startBatch,
  verifyAuditChain,
  waitForInstance,
  deviceWrites,
} from './src/batch.js';
import { smallBatchWrites, useBatchSuite } from './src/scenario.js';

describe('the sample batch on the suite', () => {
  const suite = useBatchSuite('127.48.2.1');

  it('runs a batch to completion with a signed approval, leaving every unit Idle', async () => {
    const before = await plantSnapshot(suite());
    const upstreamBefore = (await suite().control.upstream()).length;
    const instanceId = await startBatch(suite(), 'E2E-1', { recipe: 'small' });
    const waiting = await waitForInstance(suite(), instanceId, (v) =>
      (v.currentSteps ?? []).some((s) => s.stepId === 'approve'),
    );
    expect(waiting.status).toBe('running');

    const refused = callMethod(suite(), 'orchestrator', 'approve', {
      instanceId,
      user: 'sue',
      password: 'wrong',
      reason: 'sample in spec',
    });
    await expect(refused).rejects.toBeInstanceOf(MethodCallError);
    await expect(refused).rejects.toMatchObject({ code: 'ORCH_AUTH_FAILED' });
    await callMethod(suite(), 'orchestrator', 'approve', {
      instanceId,
      user: 'sue',
      password: 'sue-password',
      reason: 'sample in spec',
      meaning: 'Batch released for filling',
    });

    const done = await waitForInstance(suite(), instanceId);
    expect(done.error).toBeUndefined();
    expect(done.status).toBe('succeeded');
    expect(done.output).toMatchObject({ unitsFilled: 3, corrections: 0 });
    expect(await plantStates(suite())).toMatchObject({ TankA: 'Idle', TankB: 'Idle', Reactor: 'Idle', Filler: 'Idle' });

    const records = await auditRecords(suite(), { instanceId });
    const actions = records.map((r) => r.record.action);
    expect(actions).toEqual(
      expect.arrayContaining([
        'instance.started',
        'approval.approve.refused',
        'approval.approve',
        'device.write',
        'device.call',
        'workflow.batch-released',
        'batch.completed',
      ]),
    );
    const chain = await verifyAuditChain(suite());
    expect(chain.status).toBe('intact');

    // the plant: 3 units filled (+1 sample), the sample measured; the recipe's litres dosed
    const after = await plantSnapshot(suite());
    expect(plantValue(after, 'Filler.Count') - plantValue(before, 'Filler.Count')).toBe(4);
    expect(plantValue(after, 'Quality.Measured') - plantValue(before, 'Quality.Measured')).toBeGreaterThanOrEqual(1);
    const dosedA = plantValue(after, 'TankA.Discharged') - plantValue(before, 'TankA.Discharged');
    const dosedB = plantValue(after, 'TankB.Discharged') - plantValue(before, 'TankB.Discharged');
    expect(dosedA, 'TankA litres').toBeGreaterThanOrEqual(50);
    expect(dosedA, 'TankA litres').toBeLessThan(53);
    expect(dosedB, 'TankB litres').toBeGreaterThanOrEqual(30);
    expect(dosedB, 'TankB litres').toBeLessThan(33);
    expect(after.emergencyStop).toBe(false);

    // the e-signature in the audit, and every device write of the batch's path, once each
    const approval = records.find((r) => r.record.action === 'approval.approve');
    expect(approval?.record.signature).toMatchObject({ signer: 'sue', meaning: 'Batch released for filling' });
    expect(approval?.record.actor.id).toBe('sue');
    const writes = deviceWrites(records, instanceId);
    expect([...writes.keys()].sort()).toEqual(smallBatchWrites());
    for (const [write, count] of writes) expect(count, write).toBe(1);
    expect(actions).not.toContain('device.write.failed');

    // Service Bus: the instance's status events, once each, in seq order, ending with instance.completed
    const topic = openTopicReader(suite(), 'all');
    try {
      const events = await waitFor(
        async () => {
          const got = (await topic.read()).filter((m) => m.sessionId === instanceId);
          return got.some((m) => m.subject === 'instance.completed') ? got : undefined;
        },
        { timeoutMs: 30_000, description: 'instance.completed on the Service Bus topic' },
      );
      const seqs = events.map((m) => m.body['seq'] as number);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(events.map((m) => m.messageId)).size).toBe(events.length);
      expect(events[0]?.subject).toBe('instance.started');
    } finally {
      await topic.close();
    }
    // Digital Twins: the run twin at its final state
    const run = await waitFor(
      async () => {
        const twin = await digitalTwin(suite(), `run-${instanceId}`);
        return twin?.['lastEventType'] === 'instance.completed' ? twin : undefined;
      },
      { timeoutMs: 30_000, description: `twin run-${instanceId} completed` },
    );
    expect(run).toMatchObject({ instanceId, workflowId: 'batch', state: 'succeeded' });
    expect((await digitalTwinsWrites(suite())).throttled).toBe(0);

    // upstream: the audit forward carries this batch's records
    const upstream = (await suite().control.upstream()).slice(upstreamBefore);
    const forwarded = upstream.filter((m) => m.moduleId === 'audit');
    expect(forwarded.length).toBeGreaterThan(0);
    expect(forwarded.map((m) => m.body).join('\n')).toContain(instanceId);
  }, 180_000);
});
