/**
 * `npm run bench -- edge`: module → module through the edgeHub emulator with the real SDK
 * (azure-iot-device + MQTT/TLS), modules A and B as separate processes, the emulator in this one.
 * Cases, each with the SDK's default sockets and with TCP_NODELAY on the module sockets: one-way latency
 * (one message at a time, ~200 B JSON, QoS 1); direct-method request/response (module-to-module
 * invokeMethod over HTTPS 443); request/response over routes (A → B → A, the case Nagle + delayed ACK
 * slow down); sustained throughput with 100 sends in flight. Targets (DESIGN.md §5): p50 < 1 ms, p99 < 5 ms, ≥ 5,000 msg/s.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDeployment, startEdgeHub } from '@takt/sim-edge-hub';
import { type BenchContext, percentile } from '../context.js';
import { type ModuleWorker, startWorker } from '../edge/workers.js';

const HOST = '127.77.0.1';
const WARMUP = 100;
const SAMPLES = 2_000;
const METHOD_SAMPLES = 500;
const THROUGHPUT_MESSAGES = 20_000;
// at ~50-90 ms per exchange without TCP_NODELAY, 220 exchanges take up to 20 s
const PING_PONG_SAMPLES = 220;
const PHASE_TIMEOUT_MS = 120_000;

const manifest = parseDeployment({
  modulesContent: {
    $edgeHub: {
      'properties.desired': {
        schemaVersion: '1.2',
        routes: {
          ab: 'FROM /messages/modules/bench-a/outputs/out1 INTO BrokeredEndpoint("/modules/bench-b/inputs/in1")',
          pong: 'FROM /messages/modules/bench-b/outputs/pong INTO BrokeredEndpoint("/modules/bench-a/inputs/pong")',
        },
        storeAndForwardConfiguration: { timeToLiveSecs: 7200 },
      },
    },
    'bench-a': { 'properties.desired': {} },
    'bench-b': { 'properties.desired': {} },
  },
});

const ms = (ns: number): number => Math.round((ns / 1e6) * 1000) / 1000;

export default async function edge(ctx: BenchContext): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'takt-bench-edge-'));
  const hub = await startEdgeHub({ dataDir, host: HOST, manifest });
  const workers: ModuleWorker[] = [];
  try {
    for (const nodelay of [false, true]) {
      const label = nodelay ? 'tcp-nodelay' : 'sdk-default-sockets';
      const env = (id: string): Record<string, string> => ({
        TAKT_BENCH_CS: hub.connectionString(id),
        TAKT_BENCH_CA: hub.caCertPem,
        TAKT_BENCH_NODELAY: nodelay ? '1' : '0',
      });
      const b = await startWorker('bench-b', env('bench-b'));
      workers.push(b);
      const a = await startWorker('bench-a', env('bench-a'));
      workers.push(a);

      // one-way latency, one message at a time
      b.send({ type: 'expect', count: WARMUP + SAMPLES });
      await b.next('expecting', 5_000);
      a.send({ type: 'send-sequential', count: WARMUP + SAMPLES, bytes: 160, gapMs: 1, timeoutMs: PHASE_TIMEOUT_MS });
      await a.next('sent', PHASE_TIMEOUT_MS + 5_000);
      const oneWay = await b.next('received', 30_000);
      const sorted = oneWay.latenciesNs.slice(WARMUP).sort((x, y) => x - y);
      ctx.record({
        system: 'takt',
        case: `module-to-module-one-way-${label}`,
        metric: 'p50_ms',
        value: ms(percentile(sorted, 50)),
        unit: 'ms',
      });
      ctx.record({
        system: 'takt',
        case: `module-to-module-one-way-${label}`,
        metric: 'p99_ms',
        value: ms(percentile(sorted, 99)),
        unit: 'ms',
      });

      // request/response: module-to-module direct method
      a.send({
        type: 'invoke',
        count: WARMUP + METHOD_SAMPLES,
        deviceId: hub.deviceId,
        target: 'bench-b',
        timeoutMs: PHASE_TIMEOUT_MS,
      });
      const invoked = await a.next('invoked', PHASE_TIMEOUT_MS + 5_000);
      const rr = invoked.latenciesNs.slice(WARMUP).sort((x, y) => x - y);
      ctx.record({
        system: 'takt',
        case: `direct-method-request-response-${label}`,
        metric: 'p50_ms',
        value: ms(percentile(rr, 50)),
        unit: 'ms',
      });
      ctx.record({
        system: 'takt',
        case: `direct-method-request-response-${label}`,
        metric: 'p99_ms',
        value: ms(percentile(rr, 99)),
        unit: 'ms',
      });

      // request/response over routes (A → B → A): what Nagle + delayed ACK hurt without TCP_NODELAY
      a.send({ type: 'ping-pong', count: PING_PONG_SAMPLES, timeoutMs: PHASE_TIMEOUT_MS });
      const ponged = await a.next('ponged', PHASE_TIMEOUT_MS + 5_000);
      const pp = ponged.latenciesNs.slice(Math.min(20, ponged.latenciesNs.length - 1)).sort((x, y) => x - y);
      ctx.record({
        system: 'takt',
        case: `route-ping-pong-${label}`,
        metric: 'p50_ms',
        value: ms(percentile(pp, 50)),
        unit: 'ms',
      });
      ctx.record({
        system: 'takt',
        case: `route-ping-pong-${label}`,
        metric: 'p99_ms',
        value: ms(percentile(pp, 99)),
        unit: 'ms',
      });

      // sustained throughput, 100 sends in flight
      b.send({ type: 'expect', count: THROUGHPUT_MESSAGES });
      await b.next('expecting', 5_000);
      const started = process.hrtime.bigint();
      a.send({ type: 'send-window', count: THROUGHPUT_MESSAGES, bytes: 160, window: 100, timeoutMs: PHASE_TIMEOUT_MS });
      await a.next('sent', PHASE_TIMEOUT_MS + 5_000);
      const received = await b.next('received', 60_000);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      ctx.record({
        system: 'takt',
        case: `sustained-100-in-flight-${label}`,
        metric: 'messages_per_s',
        value: Math.round(received.count / seconds),
        unit: '1/s',
      });
      ctx.note(`${label}: ${received.count} messages in ${seconds.toFixed(2)} s`);
      await a.stop();
      await b.stop();
      workers.length = 0;
    }
  } finally {
    for (const worker of workers) await worker.stop();
    await hub.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}
