/**
 * The orchestrator killed (SIGKILL) while the reactor heats: it restarts, resumes the instance from its
 * SQLite state and completes it — no device write applied twice, nothing in doubt.
 */
import { describe, expect, it } from 'vitest';
import { atStep, plantSnapshot, startBatch, waitForInstance } from './src/batch.js';
import { finishAndCheck, useBatchSuite } from './src/scenario.js';

describe('a batch through faults (separate processes)', () => {
  const suite = useBatchSuite('127.49.3.1');

  it('kill -9 of the orchestrator while the reactor heats: the batch resumes and completes, no write twice', async () => {
    const before = await plantSnapshot(suite());
    const upstreamBefore = (await suite().control.upstream()).length;
    const instanceId = await startBatch(suite(), 'E2E-KILL', { recipe: 'small' });
    await waitForInstance(suite(), instanceId, atStep('waitHeated'), 60_000);
    await suite().killModule('orchestrator');
    const heating = await plantSnapshot(suite());
    // the heating phase was started: the PackML unit may still be in its transient Starting state
    expect(['Starting', 'Execute'], 'killed while the reactor heats').toContain(heating.units['Reactor']?.state);

    await suite().restart('orchestrator', 60_000);
    await finishAndCheck(suite(), instanceId, before);
    // nothing was in doubt: no PackML command was sent twice (a second Start would be refused and asked about)
    const alerts = (await suite().control.upstream())
      .slice(upstreamBefore)
      .filter((m) => m.moduleId === 'orchestrator')
      .map((m) => JSON.parse(m.body) as { code?: string; instanceId?: string });
    expect(alerts.filter((a) => a.instanceId === instanceId && a.code === 'ORCH_IN_DOUBT')).toEqual([]);
  }, 150_000);
});
