/**
 * Test harness: an edgeHub emulator on its own loopback address, the orchestrator (in-process through
 * `startOrchestratorModule`, or as a child process of `src/main.ts`), and a stand-in `opcua-connector`
 * (a SupervisedModuleClient answering `read`/`write`/`call`/`watch`/`unwatch` and sending `tags`).
 */
import { fileURLToPath } from 'node:url';
import deviceSdk from 'azure-iot-device';
import mqttTransport from 'azure-iot-device-mqtt';
import { z } from 'zod';
import { type EdgeHubHandle, type UpstreamMessage, parseDeployment, startEdgeHub } from '@takt/sim-edge-hub';
import {
  Lifecycle,
  Outbox,
  type SqliteDatabase,
  SupervisedModuleClient,
  createLogger,
  defineMethod,
  openDatabase,
} from '@takt/edge-kit';
import { type TempDir, createTempDir, waitFor } from '@takt/test-support';
import { AuditRecordSchema } from '@takt/audit';
import { type OrchestratorModule, resolveOrchestratorConfig, startOrchestratorModule } from '../../src/index.js';

const { ModuleClient } = deviceSdk;
const { Mqtt } = mqttTransport;

export const logger = createLogger({ level: process.env['TAKT_TEST_LOG'] === '1' ? 'debug' : 'fatal' });
export const mainEntry = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
export const ADMIN = { user: 'admin', password: 'admin-secret-1' };

const manifest = {
  modulesContent: {
    $edgeAgent: { 'properties.desired': { schemaVersion: '1.1', runtime: {}, systemModules: {}, modules: {} } },
    $edgeHub: {
      'properties.desired': {
        schemaVersion: '1.2',
        routes: {
          tags: 'FROM /messages/modules/opcua-connector/outputs/tags INTO BrokeredEndpoint("/modules/orchestrator/inputs/tags")',
          orders:
            'FROM /messages/modules/mes/outputs/orders INTO BrokeredEndpoint("/modules/orchestrator/inputs/orders")',
          up: 'FROM /messages/modules/orchestrator/outputs/* INTO $upstream',
        },
        storeAndForwardConfiguration: { timeToLiveSecs: 3600 },
      },
    },
    orchestrator: { 'properties.desired': { workflows: {}, settings: {} } },
    'opcua-connector': { 'properties.desired': {} },
    mes: { 'properties.desired': {} },
  },
};

export interface ConnectorCall {
  method: string;
  payload: Record<string, unknown>;
}

/** The stand-in connector: node values in memory, watches, `tags` messages on value changes. */
export interface FakeConnector {
  client: SupervisedModuleClient;
  values: Map<string, unknown>;
  calls: ConnectorCall[];
  watched: Set<string>;
  /** Sets a node value and sends the `tags` message (if watched or `force`). */
  setTag(nodeId: string, value: unknown): void;
  /** While set, `write` calls are recorded and never answered (the caller times out). */
  hangWrites: boolean;
  /** Makes the next `n` calls of `method` fail with this connector error. */
  failNext(method: string, n: number, error: { code: string; message: string; retryable: boolean }): void;
}

export interface Harness {
  dir: TempDir;
  host: string;
  hub: EdgeHubHandle;
  cleanups: (() => Promise<void> | void)[];
  startOrchestrator(): Promise<OrchestratorModule>;
  startConnector(): Promise<FakeConnector>;
  startMes(): Promise<SupervisedModuleClient & { outbox: Outbox }>;
  /** Messages the cloud sink got from an orchestrator output, parsed. */
  upstream(output: string): Promise<Record<string, unknown>[]>;
  deploy(workflows: Record<string, unknown>, extra?: Record<string, unknown>): Promise<number>;
  invoke(method: string, payload: unknown): Promise<{ status: number; payload: Record<string, unknown> }>;
  ackOf(id: string): Promise<Record<string, unknown> | undefined>;
  close(): Promise<void>;
}

export async function createHarness(prefix: string, n: number): Promise<Harness> {
  const host = `${prefix}.${n}`;
  const dir = await createTempDir('takt-orch-');
  const hub = await startEdgeHub({ dataDir: dir.join('hub'), host, manifest: parseDeployment(manifest), logger });
  const cleanups: (() => Promise<void> | void)[] = [];
  const sdkClient = (id: string) => async () => {
    const client = ModuleClient.fromConnectionString(hub.connectionString(id), Mqtt);
    await client.setOptions({ ca: hub.caCertPem });
    return client;
  };
  const dbs: SqliteDatabase[] = [];
  const db = (name: string): SqliteDatabase => {
    const opened = openDatabase(dir.join(name));
    dbs.push(opened);
    return opened;
  };
  const h: Harness = {
    dir,
    host,
    hub,
    cleanups,
    async startOrchestrator() {
      const lifecycle = new Lifecycle({ logger });
      cleanups.push(async () => {
        await lifecycle.close();
      });
      const config = resolveOrchestratorConfig({
        TAKT_DATA_DIR: dir.join('orchestrator'),
        TAKT_HTTP_PORT: '0',
        TAKT_HTTP_HOST: '127.0.0.1',
        TAKT_ADMIN_USER: ADMIN.user,
        TAKT_ADMIN_PASSWORD: ADMIN.password,
        EdgeHubConnectionString: hub.connectionString('orchestrator'),
      });
      const { mkdir } = await import('node:fs/promises');
      await mkdir(config.dataDir, { recursive: true });
      return startOrchestratorModule(lifecycle, {
        config,
        logger,
        metrics: false,
        reportEveryMs: 500,
        createClient: sdkClient('orchestrator'),
      });
    },
    async startConnector() {
      const values = new Map<string, unknown>();
      const calls: ConnectorCall[] = [];
      const watched = new Set<string>();
      const failures = new Map<string, { n: number; error: { code: string; message: string; retryable: boolean } }>();
      const outbox = new Outbox(db('connector.db'));
      const state = { hangWrites: false };
      const fail = (method: string): void => {
        const f = failures.get(method);
        if (f !== undefined && f.n > 0) {
          f.n -= 1;
          throw Object.assign(new Error(f.error.message), f.error);
        }
      };
      const anyPayload = z.record(z.string(), z.unknown());
      const record = (method: string, payload: Record<string, unknown>): void => {
        calls.push({ method, payload });
      };
      const client = new SupervisedModuleClient({
        logger: logger.child({ module: 'opcua-connector' }),
        outbox,
        reconnectInitialDelayMs: 50,
        reconnectMaxDelayMs: 300,
        createClient: sdkClient('opcua-connector'),
        methods: {
          read: defineMethod({
            schema: anyPayload,
            handler: (p) => {
              record('read', p);
              fail('read');
              const nodeId = String(p['nodeId']);
              return { values: [{ nodeId, value: values.get(nodeId) ?? null, statusCode: 'Good' }] };
            },
          }),
          write: defineMethod({
            schema: anyPayload,
            handler: async (p) => {
              record('write', p);
              fail('write');
              if (state.hangWrites) {
                // Never answered while set: the write's outcome stays unknown to the caller.
                await waitFor(() => !state.hangWrites, { timeoutMs: 60_000 }).catch(() => undefined);
                throw Object.assign(new Error('abandoned'), { code: 'OPCUA_TIMEOUT', retryable: true });
              }
              values.set(String(p['nodeId']), p['value']);
              return {
                ok: true,
                statusCode: 'Good',
                readBack: { value: p['value'], statusCode: 'Good', matches: true },
              };
            },
          }),
          call: defineMethod({
            schema: anyPayload,
            handler: (p) => {
              record('call', p);
              fail('call');
              return { ok: true, statusCode: 'Good', outputArguments: [] };
            },
          }),
          watch: defineMethod({
            schema: anyPayload,
            handler: (p) => {
              record('watch', p);
              watched.add(String(p['nodeId']));
              return { watchId: p['watchId'], endpointUrl: p['endpointUrl'], nodeId: p['nodeId'] };
            },
          }),
          unwatch: defineMethod({ schema: anyPayload, handler: (p) => (record('unwatch', p), {}) }),
        },
      });
      cleanups.push(() => {
        state.hangWrites = false;
        return client.close();
      });
      await client.start();
      return {
        client,
        values,
        calls,
        watched,
        get hangWrites() {
          return state.hangWrites;
        },
        set hangWrites(value: boolean) {
          state.hangWrites = value;
        },
        setTag(nodeId, value) {
          values.set(nodeId, value);
          outbox.append({
            channel: 'tags',
            body: {
              endpointUrl: 'opc.tcp://plant:4840',
              nodeId,
              value,
              sourceTimestamp: new Date().toISOString(),
              serverTimestamp: new Date().toISOString(),
              watchId: 'w',
            },
          });
        },
        failNext(method, n, error) {
          failures.set(method, { n, error });
        },
      };
    },
    async startMes() {
      const outbox = new Outbox(db('mes.db'));
      const client = new SupervisedModuleClient({
        logger: logger.child({ module: 'mes' }),
        outbox,
        createClient: sdkClient('mes'),
      });
      cleanups.push(() => client.close());
      await client.start();
      return Object.assign(client, { outbox });
    },
    async upstream(output) {
      const all: UpstreamMessage[] = await hub.control.upstream(0, 10_000);
      return all
        .filter((m) => m.moduleId === 'orchestrator' && m.outputName === output)
        .map((m) => JSON.parse(m.body) as Record<string, unknown>);
    },
    deploy(workflows, extra = {}) {
      return hub.control.patchDesired('orchestrator', { workflows, ...extra });
    },
    async invoke(method, payload) {
      const result = await hub.control.invokeMethod('orchestrator', {
        methodName: method,
        payload,
        responseTimeoutInSeconds: 30,
      });
      return result as { status: number; payload: Record<string, unknown> };
    },
    async ackOf(id) {
      const twin = await hub.control.twin('orchestrator');
      const workflows = twin.reported['workflows'] as Record<string, Record<string, unknown>> | undefined;
      return workflows?.[id];
    },
    async close() {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
      for (const opened of dbs.splice(0)) opened.close();
      await hub.close();
      await dir.remove();
    },
  };
  return h;
}

/** Waits until the workflow's ack in reported properties answers `version`. */
export async function waitForAck(
  h: Harness,
  id: string,
  av: number,
  timeoutMs = 15_000,
): Promise<Record<string, unknown>> {
  return waitFor(
    async () => {
      const ack = await h.ackOf(id);
      return ack !== undefined && typeof ack['av'] === 'number' && ack['av'] >= av ? ack : undefined;
    },
    { timeoutMs, description: `ack of ${id} at version ${av}` },
  );
}

/** Waits for an instance to reach a status (through the getInstance direct method). */
export async function waitForStatus(
  h: Harness,
  instanceId: string,
  status: string,
  timeoutMs = 15_000,
): Promise<Record<string, unknown>> {
  return waitFor(
    async () => {
      const answer = await h.invoke('getInstance', { instanceId });
      return answer.status === 200 && answer.payload['status'] === status ? answer.payload : undefined;
    },
    { timeoutMs, description: `instance ${instanceId} ${status}` },
  );
}

/** Every record must pass the audit module's own (strict) schema. */
export function expectValidAuditRecords(records: readonly Record<string, unknown>[]): void {
  for (const record of records) {
    const parsed = AuditRecordSchema.safeParse(record);
    if (!parsed.success) {
      throw new Error(
        `audit record refused by @takt/audit: ${JSON.stringify(parsed.error.issues)} in ${JSON.stringify(record)}`,
      );
    }
  }
}
