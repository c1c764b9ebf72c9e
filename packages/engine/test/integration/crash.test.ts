/**
 * Crash test: 1,000 batch instances (retries, waits, parallel branches, a compensation path) on a
 * runner in a child process that is SIGKILLed at random points, several times. After the last
 * restart every instance must end as it would have without crashes, and no idempotency key may have
 * been dispatched as two different attempts (nor a device write repeated under one key).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createTempDir, spawnTs } from '@takt/test-support';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { simulate } from '../../src/index.js';
import { batchResponse } from '../fixtures/batch-device.js';
import { batchWorkflow } from '../fixtures/workflows.js';

const worker = fileURLToPath(new URL('./fixtures/crash-worker.ts', import.meta.url));
const COUNT = 1_000;
const KILLS = 6;

interface LogEntry {
  key: string;
  instance: string;
  stepId: string;
  attempt: number;
  action: string;
  args: unknown;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describe('crash recovery', () => {
  it('1,000 instances survive repeated kill -9 with the outcome they would have had', async () => {
    const dir = await createTempDir('takt-crash-');
    cleanups.push(() => dir.remove());
    const args = [dir.join('engine.db'), dir.join('dispatch.log'), String(COUNT), dir.join('summary.json')];
    // Random but reproducible kill points: after some starts, then at growing completion counts.
    const seed = Number(process.env['TAKT_CRASH_SEED'] ?? 20261125);
    const points = fc.sample(fc.integer({ min: 1, max: 6 }), { numRuns: KILLS, seed });
    let progress = 0;
    const recovered: string[] = [];
    for (let kill = 0; kill < KILLS; kill++) {
      const child = spawnTs(worker, args, { name: `worker-${kill}` });
      const line = await child.waitForLine(/^RECOVERED /, 30_000);
      recovered.push(line);
      if (kill === 0) {
        await child.waitForLine(new RegExp(`^STARTED ${(points[0] ?? 1) * 100}$`), 30_000);
      } else {
        progress = Math.min(COUNT - 100, progress + (points[kill] ?? 1) * 50);
        const reached = Array.from({ length: (COUNT - progress) / 50 + 1 }, (_, k) => progress + k * 50);
        await child.waitForLine(new RegExp(`^(PROGRESS (${reached.join('|')})|ALL_DONE)$`), 30_000);
      }
      await child.kill();
    }
    const last = spawnTs(worker, args, { name: 'worker-final' });
    recovered.push(await last.waitForLine(/^RECOVERED /, 30_000));
    await last.waitForLine(/^ALL_DONE$/, 45_000);
    expect(await last.waitForExit(10_000)).toBe(0);
    // Recovery really resumed in-flight work after the kills: replayed instances, re-dispatched
    // commands and device writes that were in doubt.
    const reports = recovered.map((line) => JSON.parse(line.slice('RECOVERED '.length)) as Record<string, number>);
    expect(reports.slice(1).some((r) => (r['instances'] ?? 0) > 0)).toBe(true);
    expect(reports.reduce((sum, r) => sum + (r['inDoubt'] ?? 0), 0)).toBeGreaterThan(0);

    const summary = JSON.parse(readFileSync(args[3]!, 'utf8')) as Record<
      string,
      { status: string; output: Record<string, { value?: unknown }> | null; error: string | null }
    >;
    expect(Object.keys(summary)).toHaveLength(COUNT);
    const mismatches: string[] = [];
    for (let i = 0; i < COUNT; i++) {
      const expected = await simulate(batchWorkflow, {
        params: { i },
        responses: { '*': (c) => batchResponse(i, c.stepId, c.attempt, c.args) },
      });
      const actual = summary[`b-${i}`]!;
      const same =
        actual.status === expected.status &&
        actual.error === (expected.error?.code ?? null) &&
        JSON.stringify(actual.output?.['mixed'] ?? null) === JSON.stringify(expected.output?.['mixed'] ?? null) &&
        JSON.stringify(actual.output?.['charged']?.value ?? null) ===
          JSON.stringify((expected.output?.['charged'] as { value?: unknown } | undefined)?.value ?? null);
      if (!same)
        mismatches.push(`b-${i}: ${JSON.stringify(actual)} vs ${expected.status}/${expected.error?.code ?? '-'}`);
    }
    expect(mismatches.slice(0, 5)).toEqual([]);

    const entries = readFileSync(args[1]!, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .flatMap((line) => {
        try {
          return [JSON.parse(line) as LogEntry];
        } catch {
          return []; // a line torn by SIGKILL
        }
      });
    const byKey = new Map<string, LogEntry[]>();
    for (const entry of entries) byKey.set(entry.key, [...(byKey.get(entry.key) ?? []), entry]);
    for (const [key, list] of byKey) {
      const shapes = new Set(list.map((e) => JSON.stringify([e.instance, e.stepId, e.attempt, e.action, e.args])));
      expect(shapes.size, `key ${key} was dispatched as different attempts`).toBe(1);
      const first = list[0]!;
      // A charge write is never silently repeated: its policy (readBack) re-reads instead.
      if (first.action === 'opcua.write' && first.stepId === 'charge') expect(list.length, key).toBe(1);
    }
  }, 120_000);
});
