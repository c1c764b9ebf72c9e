import deviceSdk from 'azure-iot-device';
import mqttTransport from 'azure-iot-device-mqtt';
import { type TempDir, createTempDir } from '@takt/test-support';
import { type EdgeHubHandle, parseDeployment, startEdgeHub } from '@takt/sim-edge-hub';
import { type RunningPlant, type StartPlantOptions, startPlant } from '@takt/sim-opcua-plant';
import { SupervisedModuleClient, createLogger } from '@takt/edge-kit';
import { type ConnectorModule, startConnectorModule } from '../../src/index.js';

const { ModuleClient } = deviceSdk;
const { Mqtt } = mqttTransport;

export const logger = createLogger({ level: process.env['TAKT_TEST_LOG'] === '1' ? 'debug' : 'fatal' });
export const NS = 'nsu=urn:takt:opcua-plant;s=';

export interface Harness {
  dir: TempDir;
  host: string;
  plant: RunningPlant;
  hub: EdgeHubHandle;
  connector: ConnectorModule;
  caller: SupervisedModuleClient;
  /** What reached orchestrator/inputs/tags and audit/inputs/records. */
  received: { tags: Record<string, unknown>[]; audit: Record<string, unknown>[]; tagIds: string[] };
  /** Closes the connector module and starts it again on the same data folder. */
  restartConnector(): Promise<void>;
  invoke(method: string, payload: unknown): Promise<{ status: number; payload: Record<string, unknown> }>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  host: string;
  plant?: Partial<StartPlantOptions>;
  desired: (endpointUrl: string) => Record<string, unknown>;
  secrets?: Record<string, string>;
}

export async function startHarness(options: HarnessOptions): Promise<Harness> {
  const dir = await createTempDir('takt-opcua-');
  const cleanups: (() => Promise<void> | void)[] = [() => dir.remove()];
  const close = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  };
  try {
    const plant = await startPlant({ port: 0, speedFactor: 50, pkiDir: dir.join('plant-pki'), ...options.plant });
    cleanups.push(() => plant.close());
    const manifest = {
      modulesContent: {
        $edgeAgent: { 'properties.desired': { schemaVersion: '1.1', runtime: {}, systemModules: {}, modules: {} } },
        $edgeHub: {
          'properties.desired': {
            schemaVersion: '1.2',
            routes: {
              telemetry: 'FROM /messages/modules/opcua-connector/outputs/telemetry INTO $upstream',
              tags: 'FROM /messages/modules/opcua-connector/outputs/tags INTO BrokeredEndpoint("/modules/orchestrator/inputs/tags")',
              audit:
                'FROM /messages/modules/opcua-connector/outputs/audit INTO BrokeredEndpoint("/modules/audit/inputs/records")',
            },
            storeAndForwardConfiguration: { timeToLiveSecs: 3600 },
          },
        },
        'opcua-connector': { 'properties.desired': options.desired(plant.endpointUrl) },
        orchestrator: { 'properties.desired': {} },
        audit: { 'properties.desired': {} },
      },
    };
    const hub = await startEdgeHub({
      dataDir: dir.join('hub'),
      host: options.host,
      manifest: parseDeployment(manifest),
      logger,
    });
    cleanups.push(() => hub.close());
    const clientFor = (moduleId: string) => async () => {
      const client = ModuleClient.fromConnectionString(hub.connectionString(moduleId), Mqtt);
      await client.setOptions({ ca: hub.caCertPem });
      return client;
    };
    const startConnector = () =>
      startConnectorModule({
        logger: logger.child({ module: 'opcua-connector' }),
        dataDir: dir.join('connector'),
        secret: (name) => options.secrets?.[name],
        createClient: clientFor('opcua-connector'),
        reconnectInitialDelayMs: 50,
        reconnectMaxDelayMs: 300,
      });
    let connector = await startConnector();
    cleanups.push(() => connector.close());
    const received: Harness['received'] = { tags: [], audit: [], tagIds: [] };
    const caller = new SupervisedModuleClient({
      logger: logger.child({ module: 'orchestrator' }),
      createClient: clientFor('orchestrator'),
      reconnectInitialDelayMs: 50,
      reconnectMaxDelayMs: 300,
      inputs: {
        tags: (m) => {
          received.tags.push(JSON.parse(m.body.toString('utf8')) as Record<string, unknown>);
          received.tagIds.push(m.messageId ?? '');
        },
      },
    });
    await caller.start();
    cleanups.push(() => caller.close());
    const auditor = new SupervisedModuleClient({
      logger: logger.child({ module: 'audit' }),
      createClient: clientFor('audit'),
      reconnectInitialDelayMs: 50,
      reconnectMaxDelayMs: 300,
      inputs: {
        records: (m) => void received.audit.push(JSON.parse(m.body.toString('utf8')) as Record<string, unknown>),
      },
    });
    await auditor.start();
    cleanups.push(() => auditor.close());
    const handle: Harness = {
      dir,
      host: options.host,
      plant,
      hub,
      connector,
      caller,
      received,
      async restartConnector() {
        await connector.close();
        connector = await startConnector();
        handle.connector = connector;
      },
      async invoke(method, payload) {
        const result = await caller.invokeModuleMethod(hub.deviceId, 'opcua-connector', method, payload, {
          responseTimeoutS: 20,
        });
        return { status: result.status, payload: (result.payload ?? {}) as Record<string, unknown> };
      },
      close,
    };
    return handle;
  } catch (error) {
    await close();
    throw error;
  }
}

/** Every upstream telemetry body, parsed. */
export async function upstreamBodies(hub: EdgeHubHandle): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  let after = 0;
  for (let page = 0; page < 100; page += 1) {
    const messages = await hub.control.upstream(after, 1000);
    if (messages.length === 0) break;
    for (const m of messages) {
      after = m.seq;
      out.push(JSON.parse(m.body) as Record<string, unknown>);
    }
  }
  return out;
}

/** Field values for a field name across PubSub network messages. */
export function fieldValues(bodies: readonly Record<string, unknown>[], field: string): unknown[] {
  const values: unknown[] = [];
  for (const body of bodies) {
    if (body['MessageType'] !== 'ua-data') continue;
    for (const message of (body['Messages'] as { Payload: Record<string, { Value: unknown }> }[]) ?? []) {
      const value = message.Payload[field];
      if (value) values.push(value.Value);
    }
  }
  return values;
}
