/**
 * cloud-bridge end to end on one machine: the real module (child process, real Azure SDKs) between the
 * edgeHub emulator and the Azure emulators; a stand-in `orchestrator` module (a plain
 * SupervisedModuleClient) emits status events and receives orders through edgeHub routes.
 */
import { createRequire } from 'node:module';
import type * as ServiceBusSdk from '@azure/service-bus';
import { fileURLToPath } from 'node:url';
import deviceSdk from 'azure-iot-device';
import mqttTransport from 'azure-iot-device-mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChildHandle, type TempDir, createTempDir, spawnTs, waitFor } from '@takt/test-support';
import { type EdgeHubHandle, parseDeployment, startEdgeHub } from '@takt/sim-edge-hub';
import { type AzureEmulators, startAzureEmulators } from '@takt/sim-azure';
import {
  Outbox,
  SupervisedModuleClient,
  createLogger,
  openDatabase,
  type InputMessage,
  type SqliteDatabase,
} from '@takt/edge-kit';
import type { StatusEvent } from '../../src/index.js';

// Through Node's require: under Vite's `module` condition the SDK's @opentelemetry/api resolves to an ESM
// build Node cannot load.
const { ServiceBusClient } = createRequire(import.meta.url)('@azure/service-bus') as typeof ServiceBusSdk;
type ServiceBusClient = ServiceBusSdk.ServiceBusClient;
type ReceivedMessage = ServiceBusSdk.ServiceBusReceivedMessage;

const { ModuleClient } = deviceSdk;
const { Mqtt } = mqttTransport;
const HOST = '127.46.1.1';
const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
const logger = createLogger({ level: process.env['TAKT_TEST_LOG'] === '1' ? 'debug' : 'fatal' });

const manifest = {
  modulesContent: {
    $edgeAgent: { 'properties.desired': { schemaVersion: '1.1', runtime: {}, systemModules: {}, modules: {} } },
    $edgeHub: {
      'properties.desired': {
        schemaVersion: '1.2',
        routes: {
          statusToBridge:
            'FROM /messages/modules/orchestrator/outputs/status INTO BrokeredEndpoint("/modules/cloud-bridge/inputs/status")',
          ordersToOrchestrator:
            'FROM /messages/modules/cloud-bridge/outputs/orders INTO BrokeredEndpoint("/modules/orchestrator/inputs/orders")',
        },
        storeAndForwardConfiguration: { timeToLiveSecs: 7200 },
      },
    },
    orchestrator: { 'properties.desired': {} },
    'cloud-bridge': { 'properties.desired': { sinks: { digitalTwins: true, serviceBus: true, eventGrid: true } } },
  },
};

let dir: TempDir;
let azure: AzureEmulators;
let hub: EdgeHubHandle;
let bridge: ChildHandle;
let db: SqliteDatabase;
let statusOut: Outbox;
let orchestrator: SupervisedModuleClient;
let sb: ServiceBusClient;
const ordersIn: InputMessage[] = [];
/** Everything read from the `all` subscription so far, by instance. */
const topicMessages: ReceivedMessage[] = [];

function event(
  instanceId: string,
  seq: number,
  type: StatusEvent['type'],
  extra: Partial<StatusEvent> = {},
): StatusEvent {
  return {
    eventId: `${instanceId}:${seq}`,
    type,
    instanceId,
    workflowId: 'mix-batch',
    workflowVersion: 'v1',
    state: 'running',
    at: new Date(Date.UTC(2026, 10, 25, 10, 0, 0, seq)).toISOString(),
    site: 'plant-1',
    line: 'line-2',
    unit: 'mixer-1',
    seq,
    ...extra,
  };
}

function emit(events: readonly StatusEvent[]): void {
  db.transaction(() => {
    for (const e of events) statusOut.append({ channel: 'status', id: e.eventId, body: e, source: e.instanceId });
  })();
}

async function health(): Promise<Record<string, { pending: number; failures: number; sent: number }>> {
  const twin = await hub.control.twin('cloud-bridge');
  return (twin.reported['health'] ?? {}) as Record<string, { pending: number; failures: number; sent: number }>;
}

beforeAll(async () => {
  dir = await createTempDir('takt-cloud-bridge-');
  azure = await startAzureEmulators({ certDir: dir.join('azure-certs'), host: '127.0.0.1' });
  hub = await startEdgeHub({ dataDir: dir.join('hub'), host: HOST, manifest: parseDeployment(manifest), logger });
  db = openDatabase(dir.join('orchestrator.db'));
  statusOut = new Outbox(db);
  orchestrator = new SupervisedModuleClient({
    logger,
    outbox: statusOut,
    inputs: { orders: (m) => ordersIn.push(m) },
    createClient: async () => {
      const client = ModuleClient.fromConnectionString(hub.connectionString('orchestrator'), Mqtt);
      await client.setOptions({ ca: hub.caCertPem });
      return client;
    },
    reconnectInitialDelayMs: 50,
    reconnectMaxDelayMs: 500,
  });
  await orchestrator.start();
  const env = await hub.control.moduleEnv('cloud-bridge', 'connection-string');
  const dtUrl = azure.digitalTwins?.url ?? '';
  bridge = spawnTs(MAIN, [], {
    name: 'cloud-bridge',
    stopAfterTest: false,
    echo: process.env['TAKT_TEST_LOG'] === '1',
    env: {
      ...env.env,
      ...azure.env(),
      TAKT_DT_TOKEN: undefined,
      AZURE_TENANT_ID: 'takt-tenant',
      AZURE_CLIENT_ID: 'cloud-bridge',
      AZURE_CLIENT_SECRET: 'local-secret',
      AZURE_AUTHORITY_HOST: dtUrl,
      TAKT_DATA_DIR: dir.join('bridge'),
      TAKT_METRICS_PORT: '0',
      TAKT_METRICS_HOST: '127.0.0.1',
      TAKT_SDK_MAX_RETRIES: '1',
      TAKT_SDK_RETRY_DELAY_MS: '100',
      TAKT_SDK_TIMEOUT_MS: '3000',
      TAKT_RETRY_INITIAL_MS: '100',
      TAKT_RETRY_MAX_MS: '1000',
      TAKT_BREAKER_FAILURES: '3',
      TAKT_BREAKER_OPEN_MS: '500',
      TAKT_HEALTH_INTERVAL_MS: '300',
      RuntimeLogLevel: 'info',
    },
  });
  await bridge.waitForLine(/ready/, 30_000);
  sb = new ServiceBusClient(azure.serviceBus?.connectionString ?? '', {
    retryOptions: { maxRetries: 1, retryDelayInMs: 100, timeoutInMs: 3_000 },
  });
});

afterAll(async () => {
  await bridge?.stop();
  await sb?.close();
  await orchestrator?.close();
  db?.close();
  await hub?.close();
  await azure?.close();
  await dir?.remove();
});

/** Reads the `all` subscription until `count` messages of `instanceIds` arrived (completing each). */
async function readTopic(instanceIds: readonly string[], count: number): Promise<ReceivedMessage[]> {
  const receiver = sb.createReceiver('takt-status', 'all');
  try {
    await waitFor(
      async () => {
        const got = await receiver.receiveMessages(100, { maxWaitTimeInMs: 300 });
        for (const m of got) {
          topicMessages.push(m);
          await receiver.completeMessage(m);
        }
        return topicMessages.filter((m) => instanceIds.includes(m.sessionId ?? '')).length >= count;
      },
      { timeoutMs: 30_000, description: `${count} topic messages` },
    );
  } finally {
    await receiver.close();
  }
  return topicMessages.filter((m) => instanceIds.includes(m.sessionId ?? ''));
}

describe('cloud-bridge against the Azure emulators through edgeHub', () => {
  it('builds twins and relationships, streams to the topic in order with filters, and publishes CloudEvents', async () => {
    const run = [
      event('run-1', 1, 'instance.started', { state: 'running' }),
      event('run-1', 2, 'step.started', { step: 'dose' }),
      event('run-1', 3, 'step.completed', { step: 'dose', variables: { batch: 'B-42', kg: 12.5 } }),
      event('run-1', 4, 'step.failed', {
        step: 'mix',
        state: 'failed',
        severity: 'error',
        error: { code: 'DEVICE_TIMEOUT', message: 'write of Mixer.Speed timed out' },
      }),
      event('run-1', 5, 'instance.failed', {
        state: 'failed',
        severity: 'error',
        error: { code: 'DEVICE_TIMEOUT', message: 'step mix failed' },
      }),
    ];
    emit(run);
    const messages = await readTopic(['run-1'], 5);
    expect(messages.map((m) => m.messageId)).toEqual(run.map((e) => e.eventId));
    expect(messages.map((m) => m.applicationProperties?.['seq'])).toEqual([1, 2, 3, 4, 5]);
    expect(messages[3]?.applicationProperties).toMatchObject({
      workflow: 'mix-batch',
      state: 'failed',
      site: 'plant-1',
      line: 'line-2',
      severity: 'error',
      errorCode: 'DEVICE_TIMEOUT',
    });

    const failures = sb.createReceiver('takt-status', 'failures', { receiveMode: 'receiveAndDelete' });
    const failed = await failures.receiveMessages(10, { maxWaitTimeInMs: 500 });
    await failures.close();
    expect(failed.map((m) => m.messageId)).toEqual(['run-1:4', 'run-1:5']);
    // the orchestrator's error reaches the topic in the body (the contract's optional `error`)
    expect(failed.map((m) => (m.body as StatusEvent).error?.code)).toEqual(['DEVICE_TIMEOUT', 'DEVICE_TIMEOUT']);

    // the same event id resent within the duplicate-detection window is dropped by Service Bus
    const before = azure.serviceBus?.broker.duplicatesDropped ?? 0;
    await sb.createSender('takt-status').sendMessages({ messageId: 'run-1:3', sessionId: 'run-1', body: run[2] });
    expect(azure.serviceBus?.broker.duplicatesDropped).toBe(before + 1);
    // …and a re-emitted event (edgeHub redelivery, orchestrator replay) never reaches the cloud twice
    statusOut.append({ channel: 'status', id: 'replay-of-run-1:2', body: run[1], source: 'run-1' });

    const dt = azure.digitalTwins!;
    const twin = await waitFor(() => {
      const t = dt.twin('run-run-1');
      return t?.['seq'] === 5 ? t : undefined;
    });
    expect(twin).toMatchObject({
      $metadata: { $model: 'dtmi:takt:WorkflowRun;1' },
      state: 'failed',
      currentStep: 'mix',
      lastEventType: 'instance.failed',
      severity: 'error',
      startedAt: run[0]?.at,
      endedAt: run[4]?.at,
      variables: { batch: 'B-42', kg: '12.5' },
    });
    expect(dt.twin('unit-plant-1-line-2-mixer-1')).toMatchObject({ currentRunId: '', runState: 'failed' });
    expect(dt.twin('workflow-mix-batch')).toMatchObject({ lastRunId: 'run-1', lastRunState: 'failed' });
    expect(dt.twin('site-plant-1')).toMatchObject({ name: 'plant-1' });
    const rels = dt
      .relationships()
      .map((r) => `${String(r['$sourceId'])} -${String(r['$relationshipName'])}-> ${String(r['$targetId'])}`);
    expect(rels).toEqual(
      expect.arrayContaining([
        'site-plant-1 -contains-> line-plant-1-line-2',
        'line-plant-1-line-2 -contains-> unit-plant-1-line-2-mixer-1',
        'workflow-mix-batch -hasRun-> run-run-1',
        'run-run-1 -runsOn-> unit-plant-1-line-2-mixer-1',
      ]),
    );
    expect(dt.models().map((m) => m['id'])).toEqual(
      expect.arrayContaining([
        'dtmi:takt:Site;1',
        'dtmi:takt:Line;1',
        'dtmi:takt:Unit;1',
        'dtmi:takt:Workflow;1',
        'dtmi:takt:WorkflowRun;1',
      ]),
    );

    const cloudEvents = await waitFor(() => {
      const got = azure.eventGrid?.events().filter((e) => e['subject'] === 'workflows/mix-batch/instances/run-1') ?? [];
      return got.length >= 3 ? got : undefined;
    });
    expect(cloudEvents.map((e) => [e['type'], e['id'], e['specversion']])).toEqual([
      ['com.takt.workflow.instance.started', 'run-1:1', '1.0'],
      ['com.takt.workflow.step.failed', 'run-1:4', '1.0'],
      ['com.takt.workflow.instance.failed', 'run-1:5', '1.0'],
    ]);
    expect(cloudEvents[0]?.['source']).toBe('/takt/plant-1/line-2/orchestrator');

    // the replayed event id was recognised by cloud-bridge: nothing more reached the topic
    await waitFor(async () => (await health())['serviceBus']?.pending === 0);
    const again = await readTopic(['run-1'], 5);
    expect(again.map((m) => m.messageId)).toEqual(run.map((e) => e.eventId));
  });

  it('coalesces a burst of 200 updates to one twin into at most 10 writes with the final state', async () => {
    const dt = azure.digitalTwins!;
    emit([event('run-2', 1, 'instance.started')]);
    await waitFor(() => dt.twin('run-run-2')?.['seq'] === 1);
    const writesBefore = dt.writes('run-run-2').length;
    const started = Date.now();
    const burst = Array.from({ length: 200 }, (_, i) =>
      event('run-2', i + 2, 'instance.state', { state: i === 199 ? 'holding' : 'running', variables: { tick: i } }),
    );
    // one second of updates, as an orchestrator would emit them
    for (let i = 0; i < 10; i += 1) {
      emit(burst.slice(i * 20, i * 20 + 20));
      await waitFor(() => Date.now() - started >= (i + 1) * 100, { timeoutMs: 2_000, intervalMs: 10 });
    }
    const twin = await waitFor(() => {
      const t = dt.twin('run-run-2');
      return t?.['seq'] === 201 ? t : undefined;
    });
    expect(twin).toMatchObject({ state: 'holding', variables: { tick: '199' } });
    const writes = dt.writes('run-run-2').slice(writesBefore);
    if (process.env['TAKT_TEST_LOG'] === '1') {
      console.info(`burst: 200 updates → ${writes.length} writes, final state after ${Date.now() - started} ms`);
    }
    expect(writes.length).toBeGreaterThan(0);
    expect(writes.length).toBeLessThanOrEqual(10);
    // never more than the service limit in any one-second window, and the emulator never had to refuse
    for (const w of writes)
      expect(writes.filter((x) => x.at >= w.at && x.at < w.at + 1_000).length).toBeLessThanOrEqual(10);
    expect(dt.throttled()).toBe(0);
  });

  it('buffers while Service Bus and Digital Twins are down and delivers everything in order, once, on return', async () => {
    const sbEmu = azure.serviceBus!;
    const dt = azure.digitalTwins!;
    await sbEmu.pause();
    await dt.listener.pause();
    const events: StatusEvent[] = [];
    for (let seq = 1; seq <= 15; seq += 1) {
      events.push(event('run-3', seq, seq === 1 ? 'instance.started' : 'instance.state', { unit: 'mixer-3' }));
      events.push(event('run-4', seq, seq === 1 ? 'instance.started' : 'instance.state', { unit: 'mixer-4' }));
    }
    emit(events.slice(0, 10));
    await waitFor(
      async () => {
        const h = await health();
        return (
          (h['serviceBus']?.failures ?? 0) > 0 &&
          (h['digitalTwins']?.failures ?? 0) > 0 &&
          (h['serviceBus']?.pending ?? 0) > 0
        );
      },
      { timeoutMs: 20_000, description: 'both sinks failing with events buffered' },
    );
    emit(events.slice(10));
    await sbEmu.resume();
    await dt.listener.resume();
    const resumedAt = Date.now();
    const messages = await readTopic(['run-3', 'run-4'], 30);
    if (process.env['TAKT_TEST_LOG'] === '1')
      console.info(`offline: 30 events on the topic ${Date.now() - resumedAt} ms after return`);
    expect(messages).toHaveLength(30);
    expect(new Set(messages.map((m) => m.messageId)).size).toBe(30);
    for (const id of ['run-3', 'run-4']) {
      expect(messages.filter((m) => m.sessionId === id).map((m) => m.applicationProperties?.['seq'])).toEqual(
        Array.from({ length: 15 }, (_, i) => i + 1),
      );
    }
    await waitFor(() => dt.twin('run-run-3')?.['seq'] === 15 && dt.twin('run-run-4')?.['seq'] === 15, {
      timeoutMs: 20_000,
    });
    const h = await waitFor(async () => {
      const x = await health();
      return x['serviceBus']?.pending === 0 && x['digitalTwins']?.pending === 0 ? x : undefined;
    });
    expect(h['serviceBus']?.sent).toBeGreaterThanOrEqual(30);
  });

  it('hands a queued order to the orchestrator through edgeHub and dead-letters an invalid one with a reason', async () => {
    const sender = sb.createSender('takt-orders');
    await sender.sendMessages([
      { messageId: 'order-1', body: { orderId: 'order-1', workflowId: 'mix-batch', recipe: 'r-7', priority: 3 } },
      { messageId: 'order-bad', body: { orderId: 'order-bad', priority: 42 } },
    ]);
    await sender.close();
    const order = await waitFor(() => ordersIn.find((m) => m.messageId === 'order-1'), { timeoutMs: 20_000 });
    expect(JSON.parse(order.body.toString('utf8'))).toEqual({
      orderId: 'order-1',
      workflowId: 'mix-batch',
      recipe: 'r-7',
      priority: 3,
    });
    expect(order.properties['workflowId']).toBe('mix-batch');
    const dlq = sb.createReceiver('takt-orders', { subQueueType: 'deadLetter', receiveMode: 'receiveAndDelete' });
    const dead = await waitFor(async () => {
      const got = await dlq.receiveMessages(5, { maxWaitTimeInMs: 300 });
      return got.length > 0 ? got : undefined;
    });
    await dlq.close();
    expect(dead.map((m) => [m.messageId, m.deadLetterReason])).toEqual([['order-bad', 'OrderInvalid']]);
    expect(dead[0]?.deadLetterErrorDescription).toMatch(/workflowId/);
    // the valid one was completed: the queue is empty
    expect(azure.serviceBus?.broker.store('takt-orders')?.available).toHaveLength(0);
    expect(azure.serviceBus?.broker.store('takt-orders')?.locked.size).toBe(0);
  });

  it('switches a sink off through the desired property sinks, acknowledged with PnP', async () => {
    const version = await hub.control.patchDesired('cloud-bridge', { sinks: { eventGrid: false } });
    await waitFor(async () => {
      const ack = (await hub.control.twin('cloud-bridge')).reported['sinks'] as
        { ac?: number; av?: number } | undefined;
      return ack?.ac === 200 && ack.av === version;
    });
    emit([event('run-5', 1, 'instance.started')]);
    await readTopic(['run-5'], 1);
    const h = await waitFor(async () => {
      const x = await health();
      return x['eventGrid'] && !(x['eventGrid'] as unknown as { enabled: boolean }).enabled ? x : undefined;
    });
    expect(h['eventGrid']?.pending).toBe(0);
    expect(azure.eventGrid?.events().filter((e) => e['subject'] === 'workflows/mix-batch/instances/run-5')).toEqual([]);
    const refused = await hub.control.patchDesired('cloud-bridge', { sinks: { eventGrid: 'no' } });
    const ack = await waitFor(async () => {
      const a = (await hub.control.twin('cloud-bridge')).reported['sinks'] as { ac?: number; av?: number } | undefined;
      return a?.av === refused ? a : undefined;
    });
    expect(ack.ac).toBe(400);
  });

  it('sends its metrics and traces to Application Insights and flushes them on shutdown', async () => {
    await bridge.stop();
    const envelopes = azure.appInsights?.envelopes() ?? [];
    const names = new Set(envelopes.map((e) => e.name));
    expect(names).toContain('Microsoft.ApplicationInsights.Metric');
    expect(names).toContain('Microsoft.ApplicationInsights.Message');
    const metric = envelopes.find((e) => e.name === 'Microsoft.ApplicationInsights.Metric');
    expect(metric?.tags?.['ai.cloud.role']).toBe('cloud-bridge');
    const traces = envelopes
      .filter((e) => e.name === 'Microsoft.ApplicationInsights.Message')
      .map((e) => e.data?.baseData?.['message']);
    expect(traces).toEqual(expect.arrayContaining(['cloud-bridge ready', 'order order-1 handed to the orchestrator']));
  });
});
