/**
 * `npm run bench -- connector`: the OPC UA connector module as a separate process (real main.ts,
 * real azure-iot-device SDK over MQTT/TLS) between a node-opcua load server (child process, N Double
 * tags changed every 100 ms, event-driven) and the edgeHub emulator (this process).
 *
 * - forwarding: value changes/s that arrive at `$upstream` (the emulator's cloud sink) in PubSub JSON
 *   network messages, batched (2,000 changes or 100 ms), over a measured window after a warm-up; the
 *   connector's CPU per change (from /proc) and its peak RSS. Target (DESIGN.md §5): ≥ 50,000/s.
 * - round trips: `write` (with read-back) and `call` (Simulation.InjectFault: 3 inputs, 1 output) from
 *   a module through edgeHub (module-to-module direct method) → connector → the plant simulator,
 *   p50/p99; the same operations with node-opcua directly (no edgeHub, no connector) as the peer.
 *
 * Environment: BENCH_CONNECTOR_TAGS (default 6000), BENCH_CONNECTOR_WINDOW_S (default 20), BENCH_CONNECTOR_BATCH
 * (value changes per message, default 2000).
 * `received_changes_per_s` is what the connector took from the server (its own counters, reported every
 * second); `value_changes_per_s` is what arrived at `$upstream` in the window (edgeHub acknowledged it).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import deviceSdk from 'azure-iot-device';
import mqttTransport from 'azure-iot-device-mqtt';
import { SupervisedModuleClient, createLogger } from '@takt/edge-kit';
import { type EdgeHubHandle, parseDeployment, startEdgeHub } from '@takt/sim-edge-hub';
import { connectPlantClient, startPlant } from '@takt/sim-opcua-plant';
import { type BenchContext, percentile } from '../context.js';

const HOST = '127.44.200.1';
const TAGS = Number(process.env['BENCH_CONNECTOR_TAGS'] ?? 6_000);
const WINDOW_S = Number(process.env['BENCH_CONNECTOR_WINDOW_S'] ?? 20);
const WARMUP_S = 5;
const BATCH = Number(process.env['BENCH_CONNECTOR_BATCH'] ?? 2_000);
const RTT_WARMUP = 20;
const RTT_SAMPLES = 300;
const NS_PLANT = 'nsu=urn:takt:opcua-plant;s=';
const requireHere = createRequire(import.meta.url);
const tsx = new URL(`file://${requireHere.resolve('tsx')}`).href;
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const logger = createLogger({ level: 'fatal' });

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

interface Child {
  process: ChildProcess;
  lines: string[];
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray>;
  stop(): Promise<void>;
}

function startChild(entry: string, args: string[], env: Record<string, string>): Child {
  const child = spawn(process.execPath, ['--conditions=takt-source', '--import', tsx, entry, ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let buffer = '';
  const wakers = new Set<() => void>();
  child.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    const parts = buffer.split('\n');
    buffer = parts.pop() ?? '';
    for (const line of parts) {
      lines.push(line);
      if (lines.length > 2_000) lines.splice(0, 1_000);
    }
    for (const wake of wakers) wake();
  });
  child.stderr?.on('data', () => undefined);
  return {
    process: child,
    lines,
    waitFor: (pattern, timeoutMs) =>
      new Promise((resolve, reject) => {
        const check = () => {
          for (const line of lines) {
            const match = pattern.exec(line);
            if (match) {
              finish();
              resolve(match);
              return;
            }
          }
          if (child.exitCode !== null) {
            finish();
            reject(new Error(`${entry} exited with ${child.exitCode}: ${lines.slice(-5).join(' | ')}`));
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`${entry}: no line matching ${String(pattern)} within ${timeoutMs} ms`));
        }, timeoutMs);
        const finish = () => {
          clearTimeout(timer);
          wakers.delete(check);
        };
        wakers.add(check);
        check();
      }),
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) {
          resolve();
          return;
        }
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

/** utime + stime of a process in seconds (Linux /proc). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function peakRssMb(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

async function lastUpstreamSeq(hub: EdgeHubHandle, after: number): Promise<number> {
  let seq = after;
  for (let page = 0; page < 100_000; page += 1) {
    const messages = await hub.control.upstream(seq, 1000);
    const last = messages.at(-1);
    if (!last) break;
    seq = last.seq;
  }
  return seq;
}

/** Value changes in upstream messages with from < seq ≤ to (counted by their SourceTimestamp fields). */
async function countValues(
  hub: EdgeHubHandle,
  from: number,
  to: number,
): Promise<{ values: number; messages: number; maxBytes: number; largestValues: number }> {
  let values = 0;
  let messages = 0;
  let maxBytes = 0;
  let largest = '';
  let seq = from;
  for (let page = 0; page < 100_000 && seq < to; page += 1) {
    const batch = await hub.control.upstream(seq, 200);
    if (batch.length === 0) break;
    for (const message of batch) {
      seq = message.seq;
      if (message.seq > to) break;
      messages += 1;
      const bytes = Buffer.byteLength(message.body);
      if (bytes > maxBytes) {
        maxBytes = bytes;
        largest = message.body;
      }
      values += message.body.split('"SourceTimestamp"').length - 1;
    }
  }
  return { values, messages, maxBytes, largestValues: largest.split('"SourceTimestamp"').length - 1 };
}

async function waitUntil<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 100_000; i += 1) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function loadUpdates(child: Child): number {
  for (let i = child.lines.length - 1; i >= 0; i -= 1) {
    const match = /^updates (\d+)$/.exec(child.lines[i] ?? '');
    if (match) return Number(match[1]);
  }
  return 0;
}

export default async function connectorBench(ctx: BenchContext): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'takt-bench-connector-'));
  const cleanups: (() => Promise<void> | void)[] = [() => rm(dir, { recursive: true, force: true })];
  try {
    const plant = await startPlant({ port: 0, speedFactor: 1, pkiDir: join(dir, 'plant-pki') });
    cleanups.push(() => plant.close());
    const loadPort = await freePort();
    const load = startChild(
      fileURLToPath(new URL('../connector/load-server.ts', import.meta.url)),
      [String(loadPort), String(TAGS), '100', join(dir, 'load-pki')],
      {},
    );
    cleanups.push(() => load.stop());
    await load.waitFor(/^load-server ready (\d+)/, 120_000);
    const loadUrl = `opc.tcp://127.0.0.1:${loadPort}`;
    ctx.note(`load server ${loadUrl} with ${TAGS} tags @ 100 ms (${TAGS * 10} changes/s offered)`);

    const dataDir = join(dir, 'connector');
    await mkdir(dataDir, { recursive: true });
    await writeFile(
      join(dataDir, 'publishednodes.json'),
      JSON.stringify([
        {
          EndpointUrl: loadUrl,
          UseSecurity: false,
          DataSetWriterGroup: 'Bench',
          DataSetWriterId: 'Load',
          OpcNodes: Array.from({ length: TAGS }, (_, i) => ({
            Id: `nsu=urn:takt:bench-load;s=T${i}`,
            DisplayName: `T${i}`,
            OpcSamplingInterval: 0,
            OpcPublishingInterval: 100,
            QueueSize: 10,
          })),
        },
      ]),
    );
    const hub = await startEdgeHub({
      dataDir: join(dir, 'hub'),
      host: HOST,
      logger,
      manifest: parseDeployment({
        modulesContent: {
          $edgeAgent: { 'properties.desired': { schemaVersion: '1.1', runtime: {}, systemModules: {}, modules: {} } },
          $edgeHub: {
            'properties.desired': {
              schemaVersion: '1.2',
              routes: { telemetry: 'FROM /messages/modules/opcua-connector/outputs/telemetry INTO $upstream' },
              storeAndForwardConfiguration: { timeToLiveSecs: 7200 },
            },
          },
          'opcua-connector': {
            'properties.desired': {
              settings: {
                autoAcceptUntrustedCertificates: true,
                batchSize: BATCH,
                batchIntervalMs: 100,
                maxQueuedMessages: 100_000,
                healthReportIntervalMs: 1_000,
              },
              endpoints: { plant: { EndpointUrl: plant.endpointUrl, UseSecurity: false } },
            },
          },
          orchestrator: { 'properties.desired': {} },
        },
      }),
    });
    cleanups.push(() => hub.close());
    const connector = startChild(join(repoRoot, 'modules/opcua-connector/src/main.ts'), [], {
      ...hub.moduleEnv('opcua-connector'),
      TAKT_DATA_DIR: dataDir,
      TAKT_METRICS_PORT: '0',
      RuntimeLogLevel: 'warning',
      IOTEDGE_MODULEID: 'opcua-connector',
    });
    cleanups.push(() => connector.stop());
    const pid = connector.process.pid ?? 0;
    await waitUntil('the connector to monitor every tag', 180_000, async () => {
      const twin = await hub.control.twin('opcua-connector');
      const health = Object.values(
        (twin.reported['endpointHealth'] ?? {}) as Record<
          string,
          { endpointUrl: string; connected: boolean; monitoredItems: number }
        >,
      );
      const loadHealth = health.find((h) => h.endpointUrl === loadUrl);
      return loadHealth?.connected && loadHealth.monitoredItems === TAGS ? true : undefined;
    });
    ctx.note(`connector monitors ${TAGS} items; warming up ${WARMUP_S} s`);
    await new Promise((r) => setTimeout(r, WARMUP_S * 1000));

    // ---- forwarding throughput
    const counters = async () => {
      const twin = await hub.control.twin('opcua-connector');
      const all = Object.values(
        (twin.reported['endpointHealth'] ?? {}) as Record<
          string,
          { endpointUrl: string; valuesReceived: number; valuesSent: number; valuesDropped: number }
        >,
      );
      return all.find((h) => h.endpointUrl === loadUrl) ?? { valuesReceived: 0, valuesSent: 0, valuesDropped: 0 };
    };
    const health0 = await counters();
    const seq0 = await lastUpstreamSeq(hub, 0);
    const cpu0 = cpuSeconds(pid);
    const updates0 = loadUpdates(load);
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, WINDOW_S * 1000));
    const seq1 = await lastUpstreamSeq(hub, seq0);
    const cpu1 = cpuSeconds(pid);
    const updates1 = loadUpdates(load);
    const elapsedS = (Date.now() - t0) / 1000;
    const health1 = await counters();
    ctx.note(
      `connector counters over the window (reported every 1 s): received ${health1.valuesReceived - health0.valuesReceived}, queued for edgeHub ${health1.valuesSent - health0.valuesSent}, dropped ${health1.valuesDropped - health0.valuesDropped}`,
    );
    const counted = await countValues(hub, seq0, seq1);
    const rate = counted.values / elapsedS;
    ctx.note(`largest message: ${counted.maxBytes} bytes with ${counted.largestValues} value changes`);
    const caseName = `${TAGS}-tags-100ms-batch${BATCH}`;
    ctx.record({
      system: 'takt',
      case: caseName,
      metric: 'offered_changes_per_s',
      value: Math.round((updates1 - updates0) / elapsedS),
      unit: '1/s',
    });
    ctx.record({
      system: 'takt',
      case: caseName,
      metric: 'received_changes_per_s',
      value: Math.round((health1.valuesReceived - health0.valuesReceived) / elapsedS),
      unit: '1/s',
    });
    ctx.record({ system: 'takt', case: caseName, metric: 'value_changes_per_s', value: Math.round(rate), unit: '1/s' });
    ctx.record({
      system: 'takt',
      case: caseName,
      metric: 'messages_per_s',
      value: Math.round(counted.messages / elapsedS),
      unit: '1/s',
    });
    ctx.record({ system: 'takt', case: caseName, metric: 'max_message_bytes', value: counted.maxBytes, unit: 'B' });
    ctx.record({
      system: 'takt',
      case: caseName,
      metric: 'cpu_us_per_change',
      value: Number((((cpu1 - cpu0) * 1e6) / Math.max(counted.values, 1)).toFixed(2)),
      unit: 'us',
    });
    ctx.record({
      system: 'takt',
      case: caseName,
      metric: 'connector_cpu_percent',
      value: Number((((cpu1 - cpu0) / elapsedS) * 100).toFixed(1)),
      unit: '%',
    });
    ctx.record({
      system: 'takt',
      case: caseName,
      metric: 'peak_rss_mb',
      value: Math.round(peakRssMb(pid)),
      unit: 'MB',
    });
    await load.stop();

    // ---- write / call round trips from a module
    const { ModuleClient } = deviceSdk;
    const { Mqtt } = mqttTransport;
    const caller = new SupervisedModuleClient({
      logger,
      createClient: async () => {
        const client = ModuleClient.fromConnectionString(hub.connectionString('orchestrator'), Mqtt);
        await client.setOptions({ ca: hub.caCertPem });
        return client;
      },
    });
    await caller.start();
    cleanups.push(() => caller.close());
    const endpointUrl = plant.endpointUrl;
    const invoke = async (method: string, payload: unknown) => {
      const result = await caller.invokeModuleMethod(hub.deviceId, 'opcua-connector', method, payload, {
        responseTimeoutS: 30,
      });
      if (result.status !== 200) throw new Error(`${method}: ${result.status} ${JSON.stringify(result.payload)}`);
    };
    const operations: Record<string, (i: number) => Promise<void>> = {
      'write-readback': (i) =>
        invoke('write', {
          endpointUrl,
          nodeId: `${NS_PLANT}Reactor.TemperatureSetpoint`,
          value: 60 + (i % 40),
          verify: true,
        }),
      'write-no-readback': (i) =>
        invoke('write', {
          endpointUrl,
          nodeId: `${NS_PLANT}Reactor.TemperatureSetpoint`,
          value: 60 + (i % 40),
          verify: false,
        }),
      call: () =>
        invoke('call', {
          endpointUrl,
          objectId: `${NS_PLANT}Simulation`,
          methodId: `${NS_PLANT}Simulation.InjectFault`,
          inputArguments: ['noisySensor', 'Reactor.Temperature', 0.1],
        }),
    };
    for (const [name, operation] of Object.entries(operations)) {
      const samples: number[] = [];
      for (let i = 0; i < RTT_WARMUP + RTT_SAMPLES; i += 1) {
        const started = process.hrtime.bigint();
        await operation(i);
        if (i >= RTT_WARMUP) samples.push(Number(process.hrtime.bigint() - started) / 1e6);
      }
      samples.sort((a, b) => a - b);
      ctx.record({
        system: 'takt',
        case: `${name}-module-via-edgehub`,
        metric: 'p50_ms',
        value: Number(percentile(samples, 50).toFixed(2)),
        unit: 'ms',
      });
      ctx.record({
        system: 'takt',
        case: `${name}-module-via-edgehub`,
        metric: 'p99_ms',
        value: Number(percentile(samples, 99).toFixed(2)),
        unit: 'ms',
      });
    }

    // ---- peer: the same operations with node-opcua directly (no edgeHub, no connector)
    const direct = await connectPlantClient({ endpointUrl, pkiDir: join(dir, 'direct-pki') });
    cleanups.push(() => direct.close());
    const directOps: Record<string, (i: number) => Promise<unknown>> = {
      write: (i) => direct.write('Reactor.TemperatureSetpoint', 60 + (i % 40)),
      call: () =>
        direct.call('Simulation.InjectFault', [
          { dataType: 12, value: 'noisySensor' },
          { dataType: 12, value: 'Reactor.Temperature' },
          { dataType: 11, value: 0.1 },
        ]),
    };
    for (const [name, operation] of Object.entries(directOps)) {
      const samples: number[] = [];
      for (let i = 0; i < RTT_WARMUP + RTT_SAMPLES; i += 1) {
        const started = process.hrtime.bigint();
        await operation(i);
        if (i >= RTT_WARMUP) samples.push(Number(process.hrtime.bigint() - started) / 1e6);
      }
      samples.sort((a, b) => a - b);
      const system = 'node-opcua-client@2.182.2 direct';
      ctx.record({
        system,
        case: name,
        metric: 'p50_ms',
        value: Number(percentile(samples, 50).toFixed(2)),
        unit: 'ms',
      });
      ctx.record({
        system,
        case: name,
        metric: 'p99_ms',
        value: Number(percentile(samples, 99).toFixed(2)),
        unit: 'ms',
      });
    }
  } finally {
    for (const cleanup of cleanups.splice(0).reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
  }
}
