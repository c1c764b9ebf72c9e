/**
 * Audit store workloads (in-process, real SQLite file, WAL + synchronous=FULL: every commit fsync'd).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AuditRecord, AuditStore, GroupWriter } from '@takt/audit';

export const MAC_KEY = Buffer.from('bench-mac-key-0123456789abcdefghijklmnopqrstuvwxyz');

/** A realistic record (~600 bytes canonical): a device write with before/after and correlation. */
export function benchRecord(n: number): unknown {
  return {
    sourceModule: 'orchestrator',
    sourceMessageId: `bench-${n}`,
    timestamp: new Date(Date.UTC(2026, 10, 25, 10) + n).toISOString(),
    actor: { type: 'module', id: 'orchestrator' },
    action: 'device.write',
    target: { type: 'tag', id: `nsu=urn:takt:opcua-plant;s=Mixer${n % 8}.Setpoint` },
    before: { value: n % 100, quality: 'Good' },
    after: { value: (n + 1) % 100, quality: 'Good' },
    reason: 'recipe step mix: setpoint ramp',
    correlation: {
      instanceId: `inst-${n % 200}`,
      batchId: `B-${Math.floor(n / 1000)}`,
      workflowId: 'mix-and-fill',
      workflowVersion: 'sha256:4f1c',
      stepId: 'ramp',
    },
  };
}

export interface Measured {
  records: number;
  seconds: number;
  perSecond: number;
  commits: number;
}

function withStore<T>(macKey: Buffer | undefined, run: (store: AuditStore) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'takt-bench-audit-'));
  const store = AuditStore.open(join(dir, 'audit.db'), { macKey });
  return run(store).finally(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
}

/** Closed loop: `inFlight` submitters, each submits its next record when the previous one committed. */
export function groupCommit(total: number, inFlight: number, macKey: Buffer | undefined): Promise<Measured> {
  return withStore(macKey, async (store) => {
    const records: AuditRecord[] = Array.from({ length: total }, (_, i) => store.validate(benchRecord(i)));
    let commits = 0;
    const writer = new GroupWriter(store, { onCommit: () => (commits += 1) });
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        for (let i = next++; i < total; i = next++) await writer.submit(records[i] as AuditRecord);
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    writer.close();
    return { records: total, seconds, perSecond: total / seconds, commits };
  });
}

/** One transaction per record (what a sender that sends one record per input message gets). */
export function onePerCommit(total: number, macKey: Buffer | undefined): Promise<Measured> {
  return withStore(macKey, (store) => {
    const records = Array.from({ length: total }, (_, i) => store.validate(benchRecord(i)));
    const started = performance.now();
    for (const record of records) store.appendMany([record]);
    const seconds = (performance.now() - started) / 1000;
    return Promise.resolve({ records: total, seconds, perSecond: total / seconds, commits: total });
  });
}

/** Validation + chaining + verification cost: verify a chain of `total` records. */
export function verifyRate(total: number, macKey: Buffer | undefined): Promise<Measured> {
  return withStore(macKey, (store) => {
    for (let i = 0; i < total; i += 5_000) {
      store.appendMany(
        Array.from({ length: Math.min(5_000, total - i) }, (_, j) => store.validate(benchRecord(i + j))),
      );
    }
    const started = performance.now();
    const report = store.verify();
    const seconds = (performance.now() - started) / 1000;
    if (report.status !== 'intact' || report.checked !== total) throw new Error(`verify: ${JSON.stringify(report)}`);
    return Promise.resolve({ records: total, seconds, perSecond: total / seconds, commits: 0 });
  });
}
