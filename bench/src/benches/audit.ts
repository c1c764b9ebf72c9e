/**
 * `npm run bench -- audit`: audit records per second with every commit fsync'd (SQLite WAL,
 * synchronous=FULL), each record validated, canonicalized (RFC 8785), SHA-256-chained, optionally
 * HMAC'd, indexed, and queued in the forward outbox in the same transaction.
 * Cases: group commit with 1,000 records in flight (the `record` method path), one record per commit
 * (one record per input message), chain verification speed; then the module as a real process behind
 * the edgeHub emulator (route input, batched input, module-to-module `record` calls).
 */
import type { BenchContext } from '../context.js';
import { measureThroughEdgeHub } from '../audit/edge.js';
import { MAC_KEY, groupCommit, onePerCommit, verifyRate } from '../audit/workload.js';

export default async function audit(ctx: BenchContext): Promise<void> {
  const total = Number(process.env['TAKT_BENCH_N'] ?? 50_000);
  const record = (name: string, metric: string, value: number, unit: string): void =>
    ctx.record({ system: 'takt', case: name, metric, value: Math.round(value * 10) / 10, unit });

  for (const mac of [false, true]) {
    const suffix = mac ? '-mac' : '';
    const key = mac ? MAC_KEY : undefined;
    ctx.note(`group commit, ${total} records, 1,000 in flight${mac ? ', HMAC on' : ''}`);
    // Three trials; the median by throughput is reported (the box is shared and noisy).
    const trials = [];
    for (let t = 0; t < 3; t += 1) trials.push(await groupCommit(total, 1_000, key));
    trials.sort((a, b) => a.perSecond - b.perSecond);
    ctx.note(`trials (records/s): ${trials.map((t) => Math.round(t.perSecond)).join(', ')}`);
    const median = trials[1] ?? trials[0]!;
    record(`group-commit-1000-in-flight${suffix}`, 'records_per_s', median.perSecond, '1/s');
    record(`group-commit-1000-in-flight${suffix}`, 'records_per_commit', median.records / median.commits, '1');
  }

  const single = Math.min(total, 5_000);
  ctx.note(`one record per commit, ${single} records`);
  const one = await onePerCommit(single, undefined);
  record('one-record-per-commit', 'records_per_s', one.perSecond, '1/s');

  ctx.note(`verify a chain of ${total} records (HMAC on)`);
  const verified = await verifyRate(total, MAC_KEY);
  record(`verify-${total}-mac`, 'records_per_s', verified.perSecond, '1/s');
  const edgeTotal = Math.min(total, 5_000);
  ctx.note(`through edgeHub: ${edgeTotal} records as single input messages, as 50-record messages, 3,000 by method`);
  const edge = await measureThroughEdgeHub(edgeTotal);
  record('edgehub-input-1-per-message', 'records_per_s', edge.inputSingle, '1/s');
  record('edgehub-input-50-per-message', 'records_per_s', edge.inputBatched50, '1/s');
  record('edgehub-method-record-32-callers', 'records_per_s', edge.method, '1/s');
  record('edgehub-method-record-32-callers', 'p50_ms', edge.methodP50Ms, 'ms');
  record('edgehub-method-record-32-callers', 'p99_ms', edge.methodP99Ms, 'ms');
  record('edgehub-forward-drain-after-load', 'lag_ms', edge.forwardLagMs, 'ms');
  record('all', 'peak_rss_mb', process.resourceUsage().maxRSS / 1024, 'MB');
}
