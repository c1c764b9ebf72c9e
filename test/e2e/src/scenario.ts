/**
 * What the batch e2e files share: a started suite with a supervisor, the writes the `small` recipe's
 * in-spec path makes, and the check that a batch finished and moved the recipe's amounts once.
 */
import { afterAll, beforeAll, expect } from 'vitest';
import {
  type InstanceView,
  approveBatch,
  atStep,
  auditRecords,
  createUser,
  deviceWrites,
  plantSnapshot,
  plantValue,
  verifyAuditChain,
  waitForInstance,
} from './batch.js';
import { type Suite, startSuite } from './suite.js';

export const SUPERVISOR = { user: 'sue', password: 'sue-password' } as const;

/** The `opcua.write` steps on the in-spec path with the `small` recipe and `litresA` of ingredient A (sorted). */
export const smallBatchWrites = (litresA = 50): string[] =>
  [
    'Filler.BatchSize=1', // setSampleSize
    'Filler.BatchSize=3', // setFillSize
    'Reactor.HoldTimeSetpoint=10',
    'Reactor.TemperatureSetpoint=60',
    `TankA.DoseSetpoint=${litresA}`,
    'TankB.DoseSetpoint=30',
  ].sort();

/**
 * Starts the whole suite on `host` for the file (plant at 50×), requires every process to reach ready and
 * creates the supervisor; stops it after the file. Returns a getter: the suite exists once `beforeAll` ran.
 */
export function useBatchSuite(host: string): () => Suite {
  let suite: Suite | undefined;
  beforeAll(async () => {
    suite = await startSuite({ host, plantSpeed: 50 });
    const readiness = await suite.waitReady(90_000);
    expect(
      Object.values(readiness).every((r) => r === 'ready'),
      JSON.stringify(readiness),
    ).toBe(true);
    await createUser(suite, SUPERVISOR.user, SUPERVISOR.password, ['supervisor', 'operator']);
  }, 180_000);
  afterAll(async () => {
    await suite?.stop();
  }, 60_000);
  return () => {
    if (!suite) throw new Error('the suite is not started (use it inside a test)');
    return suite;
  };
}

/** Approves when the batch asks, then waits for the end; checks the plant moved the recipe's amounts once. */
export async function finishAndCheck(
  suite: Suite,
  instanceId: string,
  before: Awaited<ReturnType<typeof plantSnapshot>>,
  litresA = 50,
): Promise<InstanceView> {
  await waitForInstance(suite, instanceId, atStep('approve'), 45_000);
  await approveBatch(suite, instanceId, SUPERVISOR.user, SUPERVISOR.password);
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
  expect([...writes.keys()].sort()).toEqual(smallBatchWrites(litresA));
  for (const [write, count] of writes) expect(count, write).toBe(1);
  expect((await verifyAuditChain(suite)).status).toBe('intact');
  return done;
}
