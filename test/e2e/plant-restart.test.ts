/**
 * The OPC UA plant restarts (fault `restart`, 3 s down, same port) while TankA doses: the workflow's
 * device retry policy (`DEVICE_UNREACHABLE` → 6 attempts, ≈ 30 s) and the connector's reconnect carry
 * the batch through the gap; it completes with the recipe's amounts moved once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type InstanceView,
  approveBatch,
  atStep,
  auditRecords,
  createUser,
  deviceWrites,
  injectPlantFault,
  plantHealth,
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
    suite = await startSuite({ host: '127.49.1.1', plantSpeed: 50 });
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

  it('the OPC UA plant restarts while the tanks dose: the retry policy rides it out', async () => {
    const before = await plantSnapshot(suite);
    const restartsBefore = (await plantHealth(suite)).restarts ?? 0;
    // 300 L of A take 150 simulated seconds (3 s here): the restart lands while TankA doses
    const instanceId = await startBatch(suite, 'E2E-PLANT', {
      recipe: 'small',
      parameters: { ingredientALitres: 300 },
    });
    await waitForInstance(suite, instanceId, atStep('waitDoseA'), 60_000);
    const injected = await injectPlantFault(suite, 'restart', '', 3000);
    expect(injected).toContain('F');
    const during = await plantSnapshot(suite);
    expect(['Starting', 'Execute'], 'restarted while TankA doses').toContain(during.units['TankA']?.state);
    await finishAndCheck(instanceId, before, 300);
    expect((await plantHealth(suite)).restarts).toBe(restartsBefore + 1);
  }, 150_000);
});
