/**
 * The orchestrator killed (SIGKILL) while the reactor heats: it restarts, resumes the instance from its
 * SQLite state and completes it — no device write applied twice, nothing in doubt.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type InstanceView,
  approveBatch,
  atStep,
  auditRecords,
  createUser,
  deviceWrites,
  plantSnapshot,
  plantValue,
  startBatch,
  verifyAuditChain,
  waitForInstance,
} from './src/batch.js';
import { type Suite, startSuite } from './src/suite.js';

/** The `opcua.write`s of the in-spec path with the `small` recipe and `litresA` of ingredient A. */
const batchWrites = (litresA: number): string[] =>
  [
    'Filler.BatchSize=1',
    'Filler.BatchSize=3',
    'Reactor.HoldTimeSetpoint=10',
    'Reactor.TemperatureSetpoint=60',
    `TankA.DoseSetpoint=${litresA}`,
    'TankB.DoseSetpoint=30',
  ].sort();

describe('a batch through faults (separate processes)', () => {
  let suite: Suite;

  beforeAll(async () => {
    suite = await startSuite({ host: '127.49.3.1', plantSpeed: 50 });
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

  /** Approves when the batch asks, then waits for the end; checks the plant moved the recipe's amounts once. */
  async function finishAndCheck(
    instanceId: string,
    before: Awaited<ReturnType<typeof plantSnapshot>>,
    litresA = 50,
  ): Promise<InstanceView> {
    await waitForInstance(suite, instanceId, atStep('approve'), 45_000);
    await approveBatch(suite, instanceId, 'sue', 'sue-password');
    const done = await waitForInstance(suite, instanceId, undefined, 90_000);
    expect(done.error).toBeUndefined();
    expect(done.status).toBe('succeeded');
    expect(done.output).toMatchObject({ unitsFilled: 3, corrections: 0 });

    const after = await plantSnapshot(suite);
    expect(plantValue(after, 'Filler.Count') - plantValue(before, 'Filler.Count'), 'units filled').toBe(4);
    const dosedA = plantValue(after, 'TankA.Discharged') - plantValue(before, 'TankA.Discharged');
    const dosedB = plantValue(after, 'TankB.Discharged') - plantValue(before, 'TankB.Discharged');
    expect(dosedA, 'TankA litres').toBeGreaterThanOrEqual(litresA);
    expect(dosedA, 'TankA litres').toBeLessThan(litresA + 3);
    expect(dosedB, 'TankB litres').toBeGreaterThanOrEqual(30);
    expect(dosedB, 'TankB litres').toBeLessThan(33);

    const records = await auditRecords(suite, { instanceId });
    const actions = records.map((r) => r.record.action);
    expect(actions.filter((a) => a === 'instance.started')).toHaveLength(1);
    expect(actions).toContain('approval.approve');
    expect(actions).toContain('batch.completed');
    const writes = deviceWrites(records, instanceId);
    expect([...writes.keys()].sort()).toEqual(batchWrites(litresA));
    for (const [write, count] of writes) expect(count, write).toBe(1);
    expect((await verifyAuditChain(suite)).status).toBe('intact');
    return done;
  }

  it('kill -9 of the orchestrator while the reactor heats: the batch resumes and completes, no write twice', async () => {
    const before = await plantSnapshot(suite);
    const upstreamBefore = (await suite.control.upstream()).length;
    const instanceId = await startBatch(suite, 'E2E-KILL', { recipe: 'small' });
    await waitForInstance(suite, instanceId, atStep('waitHeated'), 60_000);
    await suite.killModule('orchestrator');
    const heating = await plantSnapshot(suite);
    // the heating phase was started: the PackML unit may still be in its transient Starting state
    expect(['Starting', 'Execute'], 'killed while the reactor heats').toContain(heating.units['Reactor']?.state);

    await suite.restart('orchestrator', 60_000);
    await finishAndCheck(instanceId, before);
    // nothing was in doubt: no PackML command was sent twice (a second Start would be refused and asked about)
    const alerts = (await suite.control.upstream())
      .slice(upstreamBefore)
      .filter((m) => m.moduleId === 'orchestrator')
      .map((m) => JSON.parse(m.body) as { code?: string; instanceId?: string });
    expect(alerts.filter((a) => a.instanceId === instanceId && a.code === 'ORCH_IN_DOUBT')).toEqual([]);
  }, 150_000);
});
