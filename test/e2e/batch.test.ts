/**
 * The sample batch on the whole suite: order with the `small` recipe → dosing, heating, sample → the
 * supervisor's approval (a wrong password first: refused and audited) → fill → release; then the
 * audit trail and its chain, and the plant counters.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MethodCallError, callMethod, createUser, plantStates, startBatch, waitForInstance } from './src/batch.js';
import { type Suite, startSuite } from './src/suite.js';

describe('the sample batch on the suite', () => {
  let suite: Suite;

  beforeAll(async () => {
    suite = await startSuite({ host: '127.48.2.1', plantSpeed: 50 });
    const readiness = await suite.waitReady(90_000);
    expect(
      Object.values(readiness).every((r) => r === 'ready'),
      JSON.stringify(readiness),
    ).toBe(true);
    await createUser(suite, 'sue', 'sue-password', ['supervisor', 'operator']);
  }, 180_000);

  afterAll(async () => {
    await suite?.stop();
  }, 60_000);

  it('runs a batch to completion with a signed approval, leaving every unit Idle', async () => {
    const instanceId = await startBatch(suite, 'E2E-1', { recipe: 'small' });
    const waiting = await waitForInstance(suite, instanceId, (v) =>
      (v.currentSteps ?? []).some((s) => s.stepId === 'approve'),
    );
    expect(waiting.status).toBe('running');

    const refused = callMethod(suite, 'orchestrator', 'approve', {
      instanceId,
      user: 'sue',
      password: 'wrong',
      reason: 'sample in spec',
    });
    await expect(refused).rejects.toBeInstanceOf(MethodCallError);
    await expect(refused).rejects.toMatchObject({ code: 'ORCH_AUTH_FAILED' });
    await callMethod(suite, 'orchestrator', 'approve', {
      instanceId,
      user: 'sue',
      password: 'sue-password',
      reason: 'sample in spec',
      meaning: 'Batch released for filling',
    });

    const done = await waitForInstance(suite, instanceId);
    expect(done.error).toBeUndefined();
    expect(done.status).toBe('succeeded');
    expect(done.output).toMatchObject({ unitsFilled: 3, corrections: 0 });
    expect(await plantStates(suite)).toMatchObject({ TankA: 'Idle', TankB: 'Idle', Reactor: 'Idle', Filler: 'Idle' });

    const { records } = await callMethod<{ records: { record: { action: string } }[] }>(suite, 'audit', 'query', {
      instanceId,
      limit: 500,
    });
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
    const chain = await callMethod<{ status: string }>(suite, 'audit', 'verifyChain', {});
    expect(chain.status).toBe('intact');
  }, 180_000);
});
