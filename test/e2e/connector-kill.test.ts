/**
 * The opcua-connector killed (SIGKILL) with a batch about to need it: the orchestrator's device steps meet
 * an absent connector (edgeHub answers for it), retry with the workflow's policy until it is back — a
 * restarted connector answers `OPCUA_NOT_CONFIGURED` (retryable) until it has read its twin — and the
 * batch completes with every device write applied once. The connector's watches come back from its
 * SQLite file, so the condition waits see the plant again.
 */
import { describe, expect, it } from 'vitest';
import { callMethod, plantSnapshot, startBatch } from './src/batch.js';
import { finishAndCheck, useBatchSuite } from './src/scenario.js';

interface HistoryEntry {
  event: { type: string; commandId?: string; ok?: boolean; error?: { code?: string } };
}

describe('a batch through faults (separate processes)', () => {
  const suite = useBatchSuite('127.49.6.1');

  it('kill -9 of the connector before the batch needs it: device steps retry until it is back, and it completes', async () => {
    const before = await plantSnapshot(suite());
    await suite().killModule('opcua-connector');
    const instanceId = await startBatch(suite(), 'E2E-CONNECTOR-KILL', { recipe: 'small' });
    // the first device step (checkLevel) meets the absent connector at least once
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await suite().restart('opcua-connector', 60_000);
    await finishAndCheck(suite(), instanceId, before);

    const { history = [] } = await callMethod<{ history?: HistoryEntry[] }>(suite(), 'orchestrator', 'getInstance', {
      instanceId,
      history: true,
    });
    const checkLevel = history
      .map((h) => h.event)
      .filter((e) => e.type === 'result' && (e.commandId ?? '').includes(':checkLevel:'));
    // every attempt before the last met the absent connector (or the circuit it opened); the last read the level
    const outcomes = checkLevel.map((e) => (e.ok === true ? 'ok' : (e.error?.code ?? 'unknown')));
    expect(outcomes.length, `checkLevel attempts: ${outcomes.join(', ')}`).toBeGreaterThan(1);
    expect(outcomes.at(-1)).toBe('ok');
    expect(outcomes).toContain('DEVICE_UNREACHABLE');
    for (const outcome of outcomes.slice(0, -1)) expect(['DEVICE_UNREACHABLE', 'CIRCUIT_OPEN']).toContain(outcome);
  }, 150_000);
});
