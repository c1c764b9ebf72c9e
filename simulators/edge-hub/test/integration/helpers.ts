import https from 'node:https';
import deviceSdk, { type Message, type ModuleClient, type Twin } from 'azure-iot-device';
import mqttTransport from 'azure-iot-device-mqtt';
import serviceSdk, { type Client as ServiceClient, type Registry } from 'azure-iothub';
import restApi from 'azure-iothub/dist/common-http/rest_api_client.js';
import { onTestFinished } from 'vitest';
import { type TempDir, createTempDir, waitFor } from '@takt/test-support';
import { type EdgeHubHandle, type EdgeHubOptions, parseDeployment, startEdgeHub } from '@takt/sim-edge-hub';

// CommonJS packages: their exports are properties of the default import under plain Node ESM
const { Message: DeviceMessage, ModuleClient: DeviceModuleClient } = deviceSdk;
const { Mqtt } = mqttTransport;
const { Client: ServiceClientClass, Registry: RegistryClass, SharedAccessSignature } = serviceSdk;
const { RestApiClient } = restApi;

type RetryPolicy = Parameters<ModuleClient['setRetryPolicy']>[0];

// the transient errors the SDK's default ExponentialBackOffWithJitter retries
const TRANSIENT = new Set([
  'NotConnectedError',
  'InternalServerError',
  'ServiceUnavailableError',
  'ThrottlingError',
  'TimeoutError',
]);

/** The SDK's default retry filter with fast timings for tests: 50 ms doubling to 500 ms. */
export const fastRetry: RetryPolicy = {
  shouldRetry: (error: Error) => TRANSIENT.has(error.name),
  nextRetryTimeout: (retryCount: number) => Math.min(50 * 2 ** retryCount, 500),
};

/** The test deployment: sender → receiver routes covering WHERE and priorities, plus upstream. */
export const testManifest = {
  modulesContent: {
    $edgeAgent: { 'properties.desired': { schemaVersion: '1.1', runtime: {}, systemModules: {}, modules: {} } },
    $edgeHub: {
      'properties.desired': {
        schemaVersion: '1.2',
        routes: {
          plain: 'FROM /messages/modules/sender/outputs/out1 INTO BrokeredEndpoint("/modules/receiver/inputs/in1")',
          byAppProperty: {
            route:
              'FROM /messages/modules/sender/outputs/filtered WHERE severity = \'high\' INTO BrokeredEndpoint("/modules/receiver/inputs/alerts")',
          },
          byBody: {
            route:
              'FROM /messages/modules/sender/outputs/filtered WHERE $body.temperature > 50 AND $body.line.id = \'L1\' INTO BrokeredEndpoint("/modules/receiver/inputs/hot")',
          },
          low: {
            route: 'FROM /messages/modules/sender/outputs/low INTO BrokeredEndpoint("/modules/receiver/inputs/prio")',
            priority: 5,
          },
          high: {
            route: 'FROM /messages/modules/sender/outputs/high INTO BrokeredEndpoint("/modules/receiver/inputs/prio")',
            priority: 0,
          },
          shortLived: {
            route:
              'FROM /messages/modules/sender/outputs/ephemeral INTO BrokeredEndpoint("/modules/receiver/inputs/in1")',
            timeToLiveSecs: 1,
          },
          telemetryUp: { route: 'FROM /messages/modules/sender/outputs/telemetry INTO $upstream', priority: 5 },
          alertsUp: { route: 'FROM /messages/modules/sender/outputs/alerts INTO $upstream', priority: 0 },
        },
        storeAndForwardConfiguration: { timeToLiveSecs: 3600 },
      },
    },
    sender: { 'properties.desired': { settings: { rate: 1 } } },
    receiver: { 'properties.desired': { workflows: {}, settings: {} } },
  },
};

export interface TestHub {
  hub: EdgeHubHandle;
  dir: TempDir;
  /** Starts the emulator again on the same data folder (after `hub.close()`), optionally with other options. */
  restart(options?: Partial<EdgeHubOptions>): Promise<EdgeHubHandle>;
}

let hostCounter = 0;

/**
 * Starts an emulator with the test manifest on a loopback address of its own (`<prefix>.<n>`, n counting
 * up within the test file: the SDK's ports are fixed, and a client of an earlier test must never reach a
 * later test's emulator); closed after the test.
 */
export async function startTestHub(hostPrefix: string, options: Partial<EdgeHubOptions> = {}): Promise<TestHub> {
  hostCounter += 1;
  const host = `${hostPrefix}.${hostCounter}`;
  const dir = await createTempDir('takt-edgehub-');
  const start = (more: Partial<EdgeHubOptions> = {}): Promise<EdgeHubHandle> =>
    startEdgeHub({ dataDir: dir.path, host, manifest: parseDeployment(testManifest), ...options, ...more });
  const state: TestHub = {
    hub: await start(),
    dir,
    restart: async (more) => {
      state.hub = await start(more);
      return state.hub;
    },
  };
  onTestFinished(async () => {
    // modules first: an SDK client left running would reconnect to the next test's emulator
    await Promise.all([...openModules].map((m) => m.close()));
    await state.hub.close();
    await dir.remove();
  });
  return state;
}

const openModules = new Set<TestModule>();

export interface TestModule {
  client: ModuleClient;
  received: { input: string; message: Message }[];
  close(): Promise<void>;
}

/**
 * Connects a ModuleClient with the emulator's CA; listeners are registered before `open()` (the SDK
 * delivers queued input messages at CONNECT). Closed after the test.
 */
export async function connectModule(
  hub: EdgeHubHandle,
  moduleId: string,
  setup: (client: ModuleClient) => void = () => undefined,
  options: { inputs?: boolean } = {},
): Promise<TestModule> {
  return connectModuleWith(hub.connectionString(moduleId), hub.caCertPem, setup, options);
}

/** {@link connectModule} for an emulator in another process: connection string and CA PEM. */
export async function connectModuleWith(
  connectionString: string,
  caCertPem: string,
  setup: (client: ModuleClient) => void = () => undefined,
  options: { inputs?: boolean } = {},
): Promise<TestModule> {
  const client = DeviceModuleClient.fromConnectionString(connectionString, Mqtt);
  // setOptions is asynchronous (it first tries to read `ca` as a file name): await it before open()
  await client.setOptions({ ca: caCertPem });
  client.setRetryPolicy(fastRetry);
  const received: { input: string; message: Message }[] = [];
  if (options.inputs ?? true) {
    client.on('inputMessage', (input: string, message: Message) => {
      received.push({ input, message });
      client.complete(message, () => undefined);
    });
  }
  client.on('error', () => undefined);
  setup(client);
  await client.open();
  let closed = false;
  const handle: TestModule = {
    client,
    received,
    close: async () => {
      if (closed) return;
      closed = true;
      openModules.delete(handle);
      await client.close().catch(() => undefined);
    },
  };
  openModules.add(handle);
  onTestFinished(() => handle.close());
  return handle;
}

/** Waits until the emulator sees the module subscribed to its inputs (and methods, if asked). */
export async function waitSubscribed(
  hub: EdgeHubHandle,
  moduleId: string,
  what: 'inputs' | 'methods' = 'inputs',
): Promise<void> {
  await waitFor(
    async () => {
      const status = await hub.control.status();
      const module = status.modules.find((m) => m.moduleId === moduleId);
      return what === 'inputs' ? module?.inputsSubscribed : module?.methodsSubscribed;
    },
    { timeoutMs: 15_000, description: `${moduleId} subscribed to ${what}` },
  );
}

/** A JSON message with content type/encoding set (needed for $body routing). */
export function jsonMessage(body: unknown, properties: Record<string, string> = {}, messageId?: string): Message {
  const message = new DeviceMessage(JSON.stringify(body));
  message.contentType = 'application/json';
  message.contentEncoding = 'utf-8';
  if (messageId !== undefined) message.messageId = messageId;
  for (const [key, value] of Object.entries(properties)) message.properties.add(key, value);
  return message;
}

/** `twin.properties.reported.update` (typed `any` by the SDK) as a promise of the error, if any. */
export function updateReported(twin: Twin, patch: unknown): Promise<Error | undefined> {
  const reported = twin.properties.reported as { update(patch: unknown, done: (error?: Error) => void): void };
  return new Promise((resolve) => reported.update(patch, (error?: Error) => resolve(error ?? undefined)));
}

export function bodyOf(message: Message): unknown {
  return JSON.parse(message.getBytes().toString('utf8'));
}

/**
 * azure-iothub clients that trust the emulator CA. The SDK replaces its HTTP options with a keep-alive
 * agent in its constructors, so the CA is merged back in by a RestApiClient subclass.
 */
export function serviceClients(hub: EdgeHubHandle): { registry: Registry; client: ServiceClient } {
  const parts = new Map(
    hub.serviceConnectionString.split(';').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
  const host = parts.get('HostName') ?? '';
  const keyName = parts.get('SharedAccessKeyName') ?? '';
  const key = parts.get('SharedAccessKey') ?? '';
  const config = {
    host,
    sharedAccessSignature: SharedAccessSignature.create(
      host,
      keyName,
      key,
      Math.floor(Date.now() / 1000) + 3600,
    ).toString(),
  };
  const ca = hub.caCertPem;
  class CaRestApiClient extends RestApiClient {
    override setOptions(options: { http?: { agent?: https.Agent } }): void {
      super.setOptions({ ...options, ca, http: { agent: new https.Agent({ keepAlive: false, ca }) } });
    }
  }
  const rest = new CaRestApiClient(config, 'takt-test');
  rest.setOptions({});
  // the AMQP transport is never opened: only REST calls (twins, methods) are used
  const registry = new RegistryClass(config, rest);
  const client = new ServiceClientClass({} as ConstructorParameters<typeof ServiceClientClass>[0], rest);
  return { registry, client };
}
