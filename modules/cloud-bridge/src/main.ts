/**
 * cloud-bridge entry point (the only file that touches `process`).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  createLogger,
  createMetricsServer,
  createTelemetry,
  parseLogLevel,
  resolveConfig,
  runMain,
} from '@takt/edge-kit';
import { type Env, EnvSchema, databaseFile } from './config.js';
import { credentialFromEnv } from './credentials.js';
import { CloudBridge } from './edge/cloud-bridge.js';
import { CloudBridgeError } from './errors.js';
import { DigitalTwinsSink } from './sinks/digital-twins.js';
import { EventGridSink } from './sinks/event-grid.js';
import { ServiceBusSink } from './sinks/service-bus.js';
import type { Sink } from './sinks/sink.js';

const logger = createLogger({
  level: parseLogLevel(process.env['RuntimeLogLevel']),
  bindings: { module: 'cloud-bridge' },
});

function loadModels(dir: string): Record<string, unknown>[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Record<string, unknown>);
}

async function buildSinks(env: Env): Promise<{
  sinks: Sink[];
  close: () => Promise<void>;
  ordersReceiver: ConstructorParameters<typeof CloudBridge>[0]['ordersReceiver'];
}> {
  const sinks: Sink[] = [];
  const closers: (() => Promise<void>)[] = [];
  let ordersReceiver: ConstructorParameters<typeof CloudBridge>[0]['ordersReceiver'];
  const sdkRetry = {
    maxRetries: env.TAKT_SDK_MAX_RETRIES,
    retryDelayInMs: env.TAKT_SDK_RETRY_DELAY_MS,
    maxRetryDelayInMs: Math.max(env.TAKT_SDK_RETRY_DELAY_MS, 30_000),
  };
  if (env.TAKT_DT_URL && env.TAKT_DT_ENABLED) {
    const { DigitalTwinsClient } = await import('@azure/digital-twins-core');
    const client = new DigitalTwinsClient(env.TAKT_DT_URL, await credentialFromEnv(process.env), {
      retryOptions: sdkRetry,
    });
    sinks.push(
      new DigitalTwinsSink({
        client,
        models: loadModels(env.TAKT_DTDL_DIR),
        logger,
        minWriteIntervalMs: env.TAKT_DT_MIN_WRITE_INTERVAL_MS,
      }),
    );
  }
  const sbConfigured = env.TAKT_SB_CONNECTION_STRING !== undefined || env.TAKT_SB_NAMESPACE !== undefined;
  if (sbConfigured && (env.TAKT_SB_ENABLED || env.TAKT_ORDERS_ENABLED)) {
    const { ServiceBusClient } = await import('@azure/service-bus');
    const options = {
      retryOptions: {
        maxRetries: env.TAKT_SDK_MAX_RETRIES,
        retryDelayInMs: env.TAKT_SDK_RETRY_DELAY_MS,
        timeoutInMs: env.TAKT_SDK_TIMEOUT_MS,
      },
    };
    const client = env.TAKT_SB_CONNECTION_STRING
      ? new ServiceBusClient(env.TAKT_SB_CONNECTION_STRING, options)
      : new ServiceBusClient(env.TAKT_SB_NAMESPACE ?? '', await credentialFromEnv(process.env), options);
    closers.push(() => client.close());
    if (env.TAKT_SB_ENABLED) sinks.push(new ServiceBusSink(client.createSender(env.TAKT_SB_STATUS_TOPIC)));
    if (env.TAKT_ORDERS_ENABLED)
      ordersReceiver = client.createReceiver(env.TAKT_SB_ORDERS_QUEUE, { receiveMode: 'peekLock' });
  }
  if (env.TAKT_EG_ENDPOINT && env.TAKT_EG_ENABLED) {
    const { AzureKeyCredential, EventGridPublisherClient } = await import('@azure/eventgrid');
    const credential = env.TAKT_EG_KEY ? new AzureKeyCredential(env.TAKT_EG_KEY) : await credentialFromEnv(process.env);
    sinks.push(
      new EventGridSink(
        new EventGridPublisherClient(env.TAKT_EG_ENDPOINT, 'CloudEvent', credential, {
          retryOptions: { maxRetries: env.TAKT_SDK_MAX_RETRIES, retryDelayInMs: env.TAKT_SDK_RETRY_DELAY_MS },
        }),
      ),
    );
  }
  return {
    sinks,
    ordersReceiver,
    async close() {
      for (const c of closers) await c();
    },
  };
}

runMain(
  async ({ lifecycle }) => {
    const env = resolveConfig(EnvSchema, process.env) as Env;
    if (env.TAKT_SB_NAMESPACE && env.TAKT_SB_CONNECTION_STRING) {
      throw new CloudBridgeError(
        'CLOUD_CONFIG_INVALID',
        'set TAKT_SB_CONNECTION_STRING or TAKT_SB_NAMESPACE, not both',
        {
          details: { problems: [{ path: 'TAKT_SB_NAMESPACE', message: 'conflicts with TAKT_SB_CONNECTION_STRING' }] },
        },
      );
    }
    const telemetry = await createTelemetry({
      env: process.env,
      roleName: 'cloud-bridge',
      roleInstance: process.env['IOTEDGE_DEVICEID'] ?? 'cloud-bridge',
      logger,
    });
    await lifecycle.add(telemetry);
    const metrics = createMetricsServer({
      port: env.TAKT_METRICS_PORT,
      host: env.TAKT_METRICS_HOST,
      logger,
      defaultLabels: { module: 'cloud-bridge' },
    });
    await lifecycle.add(metrics);
    const built = await buildSinks(env);
    await lifecycle.add({ name: 'azure-clients', close: () => built.close() });
    const bridge = new CloudBridge({
      databaseFile: databaseFile(env),
      logger,
      sinks: built.sinks,
      ...(built.ordersReceiver ? { ordersReceiver: built.ordersReceiver } : {}),
      telemetry,
      batchSize: env.TAKT_SINK_BATCH_SIZE,
      initialRetryDelayMs: env.TAKT_RETRY_INITIAL_MS,
      maxRetryDelayMs: env.TAKT_RETRY_MAX_MS,
      breakerFailures: env.TAKT_BREAKER_FAILURES,
      breakerOpenMs: env.TAKT_BREAKER_OPEN_MS,
      healthIntervalMs: env.TAKT_HEALTH_INTERVAL_MS,
    });
    await lifecycle.add(bridge);
    telemetry.trackTrace('cloud-bridge ready', 'information', { sinks: built.sinks.map((s) => s.name).join(',') });
    logger.info('ready', { sinks: built.sinks.map((s) => s.name), orders: built.ordersReceiver !== undefined });
  },
  { logger },
);
