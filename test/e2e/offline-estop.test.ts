/**
 * The cloud link down for a whole batch — the batch completes locally, and once the link is back every
 * audit record of the chain arrives upstream — and an emergency stop pressed mid-batch: the instance is
 * aborted, its safe-state procedure runs on the plant, and the audit names who pressed it.
 */
import { waitFor } from '@takt/test-support';
import { describe, expect, it } from 'vitest';
import {
  approveBatch,
  atStep,
  auditRecords,
  callMethod,
  plantSnapshot,
  plantValue,
  startBatch,
  verifyAuditChain,
  waitForInstance,
} from './src/batch.js';
import { useBatchSuite } from './src/scenario.js';

describe('offline cloud link and emergency stop (separate processes)', () => {
  const suite = useBatchSuite('127.49.2.1');

  it('completes a batch with the upstream offline throughout; everything arrives when it is back', async () => {
    await suite().control.setOnline(false);
    const upstreamBefore = await suite().control.upstream();
    const instanceId = await startBatch(suite(), 'E2E-OFFLINE', { recipe: 'small' });
    await waitForInstance(suite(), instanceId, atStep('approve'), 60_000);
    await approveBatch(suite(), instanceId, 'sue', 'sue-password');
    const done = await waitForInstance(suite(), instanceId, undefined, 60_000);
    expect(done.status).toBe('succeeded');
    expect((await suite().control.status()).online).toBe(false);
    expect(await suite().control.upstream(), 'nothing reaches the cloud while offline').toHaveLength(
      upstreamBefore.length,
    );

    const chain = await verifyAuditChain(suite());
    expect(chain.status).toBe('intact');
    const records = await auditRecords(suite(), { instanceId });
    expect(records.map((r) => r.record.action)).toEqual(
      expect.arrayContaining(['instance.started', 'approval.approve', 'device.write', 'batch.completed']),
    );

    await suite().control.setOnline(true);
    // every record of the chain up to the head (this batch's among them) arrives, in seq order per chain
    const forwarded = await waitFor(
      async () => {
        const seqs = new Set(
          (await suite().control.upstream())
            .filter((m) => m.moduleId === 'audit')
            .map((m) => (JSON.parse(m.body) as { seq: number }).seq),
        );
        for (let seq = 1; seq <= chain.head; seq++) if (!seqs.has(seq)) return undefined;
        return seqs;
      },
      { timeoutMs: 30_000, description: `audit records 1…${chain.head} upstream` },
    );
    for (const { seq } of records) expect(forwarded.has(seq), `audit seq ${seq} upstream`).toBe(true);
  }, 120_000);

  it('an emergency stop mid-batch aborts it, runs the safe-state procedure and audits who pressed it', async () => {
    const instanceId = await startBatch(suite(), 'E2E-ESTOP', { recipe: 'small' });
    await waitForInstance(suite(), instanceId, atStep('waitHeated'), 60_000);
    const answer = await callMethod<{ aborted: string[]; held: string[]; failed: string[] }>(
      suite(),
      'orchestrator',
      'emergencyStop',
      { reason: 'smell of burning at the reactor', actor: 'sue' },
    );
    expect(answer.aborted).toContain(instanceId);
    const aborted = await waitForInstance(suite(), instanceId, undefined, 60_000);
    expect(aborted.status).toBe('aborted');

    // the safe state: heater setpoint 20 °C, reactor and tanks stopped, nothing executing
    const plant = await waitFor(
      async () => {
        const snapshot = await plantSnapshot(suite());
        const states = Object.values(snapshot.units).map((u) => u.state);
        return snapshot.units['Reactor']?.state === 'Stopped' && !states.includes('Stopping') ? snapshot : undefined;
      },
      { timeoutMs: 30_000, description: 'the reactor stopped' },
    );
    expect(plantValue(plant, 'Reactor.TemperatureSetpoint')).toBe(20);
    for (const unit of ['Reactor', 'TankA', 'TankB', 'Filler']) {
      expect(plant.units[unit]?.state, unit).not.toBe('Execute');
    }

    const records = await auditRecords(suite(), { instanceId });
    const actions = records.map((r) => r.record.action);
    expect(actions).toContain('workflow.batch-safe-state');
    expect(actions).toContain('batch.aborted');
    const pressed = (await auditRecords(suite(), { action: 'emergencyStop' })).at(-1);
    expect(pressed?.record.actor.id).toBe('sue');
    expect(pressed?.record.reason).toBe('smell of burning at the reactor');
    expect((await verifyAuditChain(suite())).status).toBe('intact');

    // new starts are refused until reset
    await expect(startBatch(suite(), 'E2E-AFTER-ESTOP', { recipe: 'small' })).rejects.toMatchObject({
      code: 'ORCH_EMERGENCY_STOP',
    });
    await callMethod(suite(), 'orchestrator', 'reset', { reason: 'checked, no fire', actor: 'sue' });
  }, 120_000);
});
