import { fileURLToPath } from 'node:url';
import deviceSdk from 'azure-iot-device';
import mqttTransport from 'azure-iot-device-mqtt';
import { type TempDir, createTempDir } from '@takt/test-support';
import { type EdgeHubHandle, startEdgeHub } from '@takt/sim-edge-hub';
import {
  Outbox,
  SupervisedModuleClient,
  type SupervisedModuleClientOptions,
  createLogger,
  openDatabase,
} from '@takt/edge-kit';

const { ModuleClient } = deviceSdk;
const { Mqtt } = mqttTransport;

/** The real deployment manifest (its routes: orchestrator/outputs/audit → audit/inputs/records, audit/outputs/forward → $upstream). */
export const MANIFEST = fileURLToPath(new URL('../../../../deployment/deployment.template.json', import.meta.url));

export const logger = createLogger({ level: process.env['TAKT_TEST_LOG'] === '1' ? 'debug' : 'fatal' });

// Our loopback prefix (the SDK's ports are fixed, so every emulator needs its own address).
const PREFIX = '127.45';

export interface Harness {
  dir: TempDir;
  host: string;
  hub: EdgeHubHandle;
  /** Client options that connect module `id` to this emulator. */
  clientOptions(
    id: string,
  ): Pick<
    SupervisedModuleClientOptions,
    'createClient' | 'reconnectInitialDelayMs' | 'reconnectMaxDelayMs' | 'operationTimeoutMs'
  >;
  /** An in-test sender posing as the orchestrator: its outbox channel `audit` is routed to audit/inputs/records. */
  orchestrator(): Promise<{ outbox: Outbox; client: SupervisedModuleClient }>;
  close(): Promise<void>;
}

export async function startHarness(file: number, n: number): Promise<Harness> {
  const host = `${PREFIX}.${file}.${n}`;
  const dir = await createTempDir('takt-audit-it-');
  const hub = await startEdgeHub({ dataDir: dir.join('hub'), host, manifest: MANIFEST, logger });
  const closers: (() => Promise<void> | void)[] = [];
  const harness: Harness = {
    dir,
    host,
    hub,
    clientOptions(id) {
      return {
        reconnectInitialDelayMs: 50,
        reconnectMaxDelayMs: 500,
        operationTimeoutMs: 5_000,
        createClient: async () => {
          const client = ModuleClient.fromConnectionString(hub.connectionString(id), Mqtt);
          await client.setOptions({ ca: hub.caCertPem });
          return client;
        },
      };
    },
    async orchestrator() {
      const db = openDatabase(dir.join('orchestrator.db'));
      const outbox = new Outbox(db);
      const client = new SupervisedModuleClient({ logger, outbox, ...harness.clientOptions('orchestrator') });
      closers.push(
        () => client.close(),
        () => {
          db.close();
        },
      );
      await client.start();
      return { outbox, client };
    },
    async close() {
      for (const close of closers.splice(0).reverse()) await close();
      await hub.close();
      await dir.remove();
    },
  };
  return harness;
}
