import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { spawnTs, waitFor } from '@takt/test-support';
import { AuditStore, runCli } from '../../src/index.js';
import { TEST_MAC_KEY, sampleRecord } from '../fixtures/records.js';
import { type Harness, startHarness } from './harness.js';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const CALLERS = 4;
const PER_CALLER = 2_000;

describe('audit module: kill -9 during a burst of writes', () => {
  it('keeps every acknowledged record, verifies after restart, and stores resent duplicates once', async () => {
    const h: Harness = await startHarness(2, 1);
    cleanups.push(() => h.close());
    const dataDir = h.dir.join('audit-data');
    const env = {
      ...h.hub.moduleEnv('audit', 'workload'),
      TAKT_DATA_DIR: dataDir,
      TAKT_METRICS_PORT: '0',
      TAKT_METRICS_HOST: '127.0.0.1',
      TAKT_AUDIT_MAC_KEY: TEST_MAC_KEY,
      RuntimeLogLevel: 'info',
    };
    const start = () => spawnTs(MAIN, [], { name: 'audit', env });
    let child = start();
    await child.waitForLine(/\bready\b/, 30_000);
    expect(child.output()).not.toContain(TEST_MAC_KEY);

    const call = (payload: unknown) =>
      h.hub.control.invokeMethod('audit', { methodName: 'record', payload, responseTimeoutInSeconds: 10 });
    const record = (caller: number, i: number) =>
      sampleRecord(i, { sourceModule: 'mes', sourceMessageId: `c${caller}-${i}` });

    // the orchestrator's records arrive through the route while the method burst runs
    const orchestrator = await h.orchestrator();
    let fromOrchestrator = 0;
    const viaRoute = (): void => {
      fromOrchestrator += 1;
      orchestrator.outbox.append({ channel: 'audit', body: sampleRecord(fromOrchestrator) });
    };
    for (let n = 0; n < 100; n += 1) viaRoute();

    const acked = new Map<string, number>();
    const attempted = Array.from({ length: CALLERS }, () => 0);
    let stop = false;
    const burst = Array.from({ length: CALLERS }, async (_, caller) => {
      for (let i = 0; i < PER_CALLER && !stop; i += 1) {
        attempted[caller] = i + 1;
        viaRoute(); // and one more through the route, so input messages are in flight at the kill
        try {
          const result = await call(record(caller, i));
          if (result.status === 200) acked.set(`c${caller}-${i}`, (result.payload as { seq: number }).seq);
        } catch {
          // the module is gone mid-call: not acknowledged
        }
      }
    });
    await waitFor(() => acked.size >= 200, { timeoutMs: 30_000, description: '200 acknowledged records' });
    await child.kill(); // SIGKILL
    stop = true;
    await Promise.all(burst);
    const ackedBeforeKill = new Map(acked);
    // straight after the kill, before any restart: every acknowledged record is in the file
    const afterKill = AuditStore.open(`${dataDir}/audit.db`, { readonly: true, macKey: Buffer.from(TEST_MAC_KEY) });
    const find = afterKill.db.prepare(
      "SELECT seq FROM audit_records WHERE source_module = 'mes' AND source_message_id = ?",
    );
    for (const [id, seq] of ackedBeforeKill) expect(find.pluck().get(id)).toBe(seq);
    expect(afterKill.verify()).toMatchObject({ status: 'intact' });
    const orchestratorBeforeRestart = afterKill.db
      .prepare("SELECT COUNT(*) FROM audit_records WHERE source_module = 'orchestrator'")
      .pluck()
      .get() as number;
    afterKill.close();
    if (process.env['TAKT_TEST_LOG'] === '1') {
      console.log({ acked: ackedBeforeKill.size, attempted, orchestratorBeforeRestart });
    }

    child = start();
    await child.waitForLine(/\bready\b/, 30_000);
    // the sender resends everything it tried (acknowledged or not)
    let duplicates = 0;
    await Promise.all(
      attempted.map(async (count, caller) => {
        for (let i = 0; i < count; i += 1) {
          const result = await call(record(caller, i));
          expect(result.status).toBe(200);
          const outcome = result.payload as { seq: number; hash: string; duplicate: boolean };
          const before = ackedBeforeKill.get(`c${caller}-${i}`);
          if (before !== undefined) {
            expect(outcome).toMatchObject({ seq: before, duplicate: true });
            expect(outcome.hash).toMatch(/^[0-9a-f]{64}$/);
            duplicates += 1;
          }
        }
      }),
    );
    expect(duplicates).toBe(ackedBeforeKill.size);
    const totalAttempted = attempted.reduce((a, b) => a + b, 0);

    // edgeHub redelivers what the killed module had not acknowledged; each lands once
    const status = await waitFor(
      async () => {
        const result = await h.hub.control.invokeMethod('audit', { methodName: 'status', payload: {} });
        const s = result.payload as { headSeq: number };
        return s.headSeq >= totalAttempted + fromOrchestrator ? s : undefined;
      },
      { timeoutMs: 30_000, description: 'all records chained' },
    );
    expect(status.headSeq).toBe(totalAttempted + fromOrchestrator);
    const verify = await h.hub.control.invokeMethod('audit', { methodName: 'verifyChain', payload: {} });
    expect(verify.payload).toMatchObject({ status: 'intact', macChecked: true, checked: status.headSeq });
    expect(await child.stop()).toBe(0);

    const store = AuditStore.open(`${dataDir}/audit.db`, { readonly: true, macKey: Buffer.from(TEST_MAC_KEY) });
    cleanups.push(() => store.close());
    const count = (sql: string) => store.db.prepare(sql).pluck().get() as number;
    expect(count("SELECT COUNT(*) FROM audit_records WHERE source_module = 'mes'")).toBe(totalAttempted);
    expect(count("SELECT COUNT(*) FROM audit_records WHERE source_module = 'orchestrator'")).toBe(fromOrchestrator);
    for (const [id, seq] of ackedBeforeKill) {
      expect(
        store.db
          .prepare("SELECT seq FROM audit_records WHERE source_module = 'mes' AND source_message_id = ?")
          .pluck()
          .get(id),
      ).toBe(seq);
    }
    const cli = runCli(['verify', '--db', `${dataDir}/audit.db`], { TAKT_AUDIT_MAC_KEY: TEST_MAC_KEY });
    expect(cli.exitCode).toBe(0);
    expect(JSON.parse(cli.stdout)).toMatchObject({ status: 'intact', macChecked: true });
  });
});
