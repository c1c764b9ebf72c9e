import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '@takt/edge-kit';
import { type TempDir, createTempDir } from '@takt/test-support';
import type { WorkflowDefinition } from '@takt/workflow';
import { Scheduler } from '../../src/app/scheduler.js';
import { openStateDatabase } from '../../src/store.js';

const logger = createLogger({ level: 'fatal' });
let dir: TempDir | undefined;
afterEach(async () => {
  await dir?.remove();
});

function hourly(missedRuns: 'skip' | 'runOnce' | 'runAll'): WorkflowDefinition {
  return {
    id: 'hourly',
    version: '1',
    triggers: [{ kind: 'schedule', cron: '0 * * * *', missedRuns, maxCatchUp: 3 }],
    start: 'done',
    steps: { done: { type: 'succeed' } },
  };
}

describe('schedule triggers: runs missed while the module was off', () => {
  it.each([
    ['skip', 0],
    ['runOnce', 1],
    ['runAll', 3],
  ] as const)('%s starts %i of the 5 missed runs, each under its own idempotency key', async (policy, expected) => {
    dir = await createTempDir('takt-orch-sched-');
    const db = openStateDatabase(dir.join('o.db'));
    const t0 = Date.parse('2026-11-25T10:30:00Z');
    const keys: string[] = [];
    const trigger = (_workflowId: string, request: { idempotencyKey: string }): Promise<void> => {
      keys.push(request.idempotencyKey);
      return Promise.resolve();
    };
    const before = new Scheduler({ db, logger, now: () => t0, trigger });
    before.setTriggers('hourly', hourly(policy));
    before.close();
    expect(keys).toEqual([]); // first deployment: nothing missed
    const after = new Scheduler({ db, logger, now: () => t0 + 5 * 3600_000, trigger });
    after.setTriggers('hourly', hourly(policy));
    after.close();
    expect(keys).toHaveLength(expected);
    expect(new Set(keys).size).toBe(expected);
    if (expected > 0) expect(keys.at(-1)).toContain(String(Date.parse('2026-11-25T15:00:00Z')));
    db.close();
  });
});
