/**
 * The audit module as a real process behind the edgeHub emulator: records through the route
 * (orchestrator/outputs/audit → audit/inputs/records) and through the `record` method
 * (module-to-module over HTTPS), measured until the audit module reports them chained.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import deviceSdk from 'azure-iot-device';
import mqttTransport from 'azure-iot-device-mqtt';
import { Outbox, SupervisedModuleClient, createLogger, openDatabase } from '@takt/edge-kit';
import { type EdgeHubHandle, startEdgeHub } from '@takt/sim-edge-hub';
import { benchRecord } from './workload.js';

const { ModuleClient } = deviceSdk;
const { Mqtt } = mqttTransport;
const HOST = '127.45.200.1';
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const logger = createLogger({ level: 'fatal' });

export interface EdgeFigures {
  inputSingle: number;
  inputBatched50: number;
  method: number;
  methodP50Ms: number;
  methodP99Ms: number;
  /** After the load stopped: until every chained record was in the cloud sink. */
  forwardLagMs: number;
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let pauseMs = 5;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
    pauseMs = Math.min(pauseMs * 2, 100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function startAudit(hub: EdgeHubHandle, dataDir: string): Promise<ChildProcess> {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const child = spawn(
    process.execPath,
    ['--conditions=takt-source', '--import', tsx, join(repoRoot, 'modules/audit/src/main.ts')],
    {
      env: {
        ...process.env,
        ...hub.moduleEnv('audit'),
        TAKT_DATA_DIR: dataDir,
        TAKT_METRICS_PORT: '0',
        TAKT_METRICS_HOST: '127.0.0.1',
        RuntimeLogLevel: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`audit did not get ready: ${output.slice(-2000)}`));
    }, 30_000);
    const onData = (chunk: Buffer): void => {
      if (output.length < 100_000) output += chunk.toString('utf8');
      if (/\bready\b/.test(output)) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`audit exited (${String(code)}): ${output.slice(-2000)}`)));
  });
}

export async function measureThroughEdgeHub(total: number): Promise<EdgeFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'takt-bench-audit-edge-'));
  const hub = await startEdgeHub({
    dataDir: join(dir, 'hub'),
    host: HOST,
    manifest: join(repoRoot, 'deployment/deployment.template.json'),
    logger,
  });
  let audit: ChildProcess | undefined;
  const db = openDatabase(join(dir, 'orchestrator.db'));
  const outbox = new Outbox(db);
  const orchestrator = new SupervisedModuleClient({
    logger,
    outbox,
    sendBatchSize: 100,
    createClient: async () => {
      const client = ModuleClient.fromConnectionString(hub.connectionString('orchestrator'), Mqtt);
      await client.setOptions({ ca: hub.caCertPem });
      return client;
    },
  });
  try {
    audit = await startAudit(hub, join(dir, 'audit'));
    await orchestrator.start();
    const head = async (): Promise<number> => {
      const result = await hub.control.invokeMethod('audit', { methodName: 'status', payload: {} });
      return (result.payload as { headSeq: number }).headSeq;
    };
    let n = 0;
    const timed = async (count: number, send: () => Promise<void>): Promise<number> => {
      const target = (await head()) + count;
      const started = performance.now();
      await send();
      await waitUntil(async () => (await head()) >= target, 300_000, `${target} records`);
      return count / ((performance.now() - started) / 1000);
    };

    const inputSingle = await timed(total, () => {
      for (let i = 0; i < total; i += 1) outbox.append({ channel: 'audit', body: benchRecord(n++) });
      return Promise.resolve();
    });
    const inputBatched50 = await timed(total, () => {
      for (let i = 0; i < total; i += 50) {
        outbox.append({ channel: 'audit', body: { records: Array.from({ length: 50 }, () => benchRecord(n++)) } });
      }
      return Promise.resolve();
    });

    const latencies: number[] = [];
    const methodTotal = Math.min(total, 3_000);
    let next = 0;
    const method = await timed(methodTotal, async () => {
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          for (let i = next++; i < methodTotal; i = next++) {
            const started = performance.now();
            const result = await orchestrator.invokeModuleMethod('takt-edge', 'audit', 'record', benchRecord(n + i));
            if (result.status !== 200) throw new Error(`record answered ${result.status}`);
            latencies.push(performance.now() - started);
          }
        }),
      );
      n += methodTotal;
    });
    latencies.sort((a, b) => a - b);
    const at = (p: number): number =>
      latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;

    // forwarding runs all along; after the load, how long until the cloud sink holds every record
    const chained = await head();
    const started = performance.now();
    await waitUntil(
      async () => (await hub.control.upstream(chained - 1, 10)).length > 0,
      300_000,
      'all forwarded upstream',
    );
    const forwardLagMs = performance.now() - started;
    return {
      inputSingle,
      inputBatched50,
      method,
      methodP50Ms: at(50),
      methodP99Ms: at(99),
      forwardLagMs,
    };
  } finally {
    await orchestrator.close();
    db.close();
    if (audit && audit.exitCode === null) {
      const exited = new Promise((resolve) => audit?.once('exit', resolve));
      audit.kill('SIGTERM');
      await exited;
    }
    await hub.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
