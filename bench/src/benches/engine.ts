/**
 * `npm run bench -- engine`: durable 3-step workflows (../../shared/notes/peer-engines.md §2), Takt
 * first, then the peers installed on demand into bench/.peers (Node-RED 4, bpmn-engine). Figures:
 * workflows/s and p50/p99 with 2,000 workflows and 200 in flight, and sequentially; one durable
 * step's p50/p99; peak RSS; recovery after kill -9 with 1,000 in flight. Environment: TAKT_BENCH_N
 * (default 2000), TAKT_BENCH_PEERS=0 to measure Takt only.
 */
import type { BenchContext } from '../context.js';
import { measureRecovery } from '../engine/recovery.js';
import { nearest, runTakt } from '../engine/takt.js';
import { runPeers } from '../engine/peers.js';

export default async function engine(ctx: BenchContext): Promise<void> {
  const total = Number(process.env['TAKT_BENCH_N'] ?? 2000);
  const record = (system: string, name: string, metric: string, value: number, unit: string): void =>
    ctx.record({ system, case: name, metric, value: Math.round(value * 1000) / 1000, unit });

  ctx.note(`takt: ${total} three-step workflows, 200 in flight (durable: WAL, synchronous FULL, group commit)`);
  // Three trials on fresh databases; the median by throughput is reported (the box is shared and noisy).
  const trials = [];
  for (let trial = 0; trial < 3; trial++) trials.push(await runTakt(total, 200, 500));
  trials.sort((a, b) => a.workflowsPerS - b.workflowsPerS);
  ctx.note(`takt trials (wf/s): ${trials.map((t) => Math.round(t.workflowsPerS)).join(', ')}`);
  const concurrent = trials[1] ?? trials[0]!;
  record('takt', `3-step-${total}-concurrent`, 'workflows_per_s', concurrent.workflowsPerS, '1/s');
  record('takt', `3-step-${total}-concurrent`, 'p50_ms', concurrent.p50Ms, 'ms');
  record('takt', `3-step-${total}-concurrent`, 'p99_ms', concurrent.p99Ms, 'ms');

  ctx.note(`takt: ${total} three-step workflows, one at a time`);
  const sequential = await runTakt(total, 1);
  record('takt', `3-step-${total}-sequential`, 'workflows_per_s', sequential.workflowsPerS, '1/s');
  record('takt', `3-step-${total}-sequential`, 'p50_ms', sequential.p50Ms, 'ms');
  record('takt', `3-step-${total}-sequential`, 'p99_ms', sequential.p99Ms, 'ms');
  record('takt', 'one-step-one-instance', 'p50_ms', nearest(sequential.stepLatenciesMs, 50), 'ms');
  record('takt', 'one-step-one-instance', 'p99_ms', nearest(sequential.stepLatenciesMs, 99), 'ms');
  record('takt', `3-step-${total}-concurrent`, 'peak_rss_mb', process.resourceUsage().maxRSS / 1024, 'MB');

  ctx.note('takt: kill -9 with 1,000 in flight, then restart');
  const recovery = await measureRecovery(1000);
  if (recovery.wrong > 0 || recovery.resumed === 0) ctx.note(`recovery problem: ${JSON.stringify(recovery)}`);
  record('takt', 'kill9-1000-in-flight', 'recovery_ms', recovery.recoveryMs, 'ms');
  record('takt', 'kill9-1000-in-flight', 'restart_to_done_ms', recovery.restartToDoneMs, 'ms');
  record('takt', 'kill9-1000-in-flight', 'resumed', recovery.resumed, 'instances');

  if (process.env['TAKT_BENCH_PEERS'] === '0') {
    ctx.note('peers skipped (TAKT_BENCH_PEERS=0)');
    return;
  }
  await runPeers(ctx, total, record);
}
