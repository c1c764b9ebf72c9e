/**
 * The OPC UA plant restarts (fault `restart`, 3 s down, same port) while TankA doses: the workflow's
 * device retry policy (`DEVICE_UNREACHABLE` → 6 attempts, ≈ 30 s) and the connector's reconnect carry
 * the batch through the gap; it completes with the recipe's amounts moved once.
 */
import { describe, expect, it } from 'vitest';
import { atStep, injectPlantFault, plantHealth, plantSnapshot, startBatch, waitForInstance } from './src/batch.js';
import { finishAndCheck, useBatchSuite } from './src/scenario.js';

describe('a batch through faults (separate processes)', () => {
  const suite = useBatchSuite('127.49.1.1');

  it('the OPC UA plant restarts while the tanks dose: the retry policy rides it out', async () => {
    const before = await plantSnapshot(suite());
    const restartsBefore = (await plantHealth(suite())).restarts ?? 0;
    // 300 L of A take 150 simulated seconds (3 s here): the restart lands while TankA doses
    const instanceId = await startBatch(suite(), 'E2E-PLANT', {
      recipe: 'small',
      parameters: { ingredientALitres: 300 },
    });
    await waitForInstance(suite(), instanceId, atStep('waitDoseA'), 60_000);
    const injected = await injectPlantFault(suite(), 'restart', '', 3000);
    expect(injected).toContain('F');
    const during = await plantSnapshot(suite());
    expect(['Starting', 'Execute'], 'restarted while TankA doses').toContain(during.units['TankA']?.state);
    await finishAndCheck(suite(), instanceId, before, 300);
    expect((await plantHealth(suite())).restarts).toBe(restartsBefore + 1);
  }, 150_000);
});
