/**
 * Assembles the module: the orchestrator service, the supervised edgeHub connection (twin, methods,
 * inputs, outputs from the outbox), the console HTTP API, Prometheus metrics and the reported health.
 * `main.ts` runs it; tests can run it in-process with an injected SDK client factory.
 */
import {
  Counter,
  Histogram,
  Inbox,
  type Lifecycle,
  type Logger,
  SupervisedModuleClient,
  createMetricsServer,
  errorMessage,
  sleep,
} from '@takt/edge-kit';
import type { ModuleClient } from 'azure-iot-device';
import { z } from 'zod';
import type { ResolvedOrchestratorConfig } from '../config.js';
import { orchestratorMethods } from '../edge/methods.js';
import { OrchestratorError } from '../errors.js';
import { createHttpServer, type HttpServer } from '../http/server.js';
import { type WorkflowTelemetry, combineTelemetry } from '../telemetry/telemetry.js';
import { Orchestrator } from './orchestrator.js';

export const orderSchema = z
  .object({
    orderId: z.string().min(1).max(256),
    workflowId: z.string().min(1).max(128).optional(),
    recipe: z.string().min(1).max(128).optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
    priority: z.number().int().min(0).max(100).optional(),
    dueAt: z.string().max(64).optional(),
  })
  .passthrough();

export const tagMessageSchema = z
  .object({
    endpointUrl: z.string().optional(),
    nodeId: z.string().min(1),
    value: z.unknown(),
    sourceTimestamp: z.string().optional(),
    serverTimestamp: z.string().optional(),
    statusCode: z.unknown().optional(),
    watchId: z.string().optional(),
  })
  .passthrough();

export interface OrchestratorModuleOptions {
  config: Readonly<ResolvedOrchestratorConfig>;
  logger: Logger;
  /** SDK client factory; default `ModuleClient.fromEnvironment(Mqtt)`. */
  createClient?: () => Promise<ModuleClient>;
  telemetry?: WorkflowTelemetry;
  /** Reported health interval. Default 15,000 ms. */
  reportEveryMs?: number;
  /** Metrics server on/off (tests turn it off). Default on. */
  metrics?: boolean;
}

export interface OrchestratorModule {
  orchestrator: Orchestrator;
  edge: SupervisedModuleClient;
  http: HttpServer;
}

function parseJson(body: Buffer, what: string): unknown {
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch (error) {
    throw new OrchestratorError('ORCH_REQUEST_INVALID', `${what}: the body is not JSON`, { cause: error });
  }
}

/** Builds and starts every component on `lifecycle` (closed in reverse order). */
export async function startOrchestratorModule(
  lifecycle: Lifecycle,
  options: OrchestratorModuleOptions,
): Promise<OrchestratorModule> {
  const { config, logger } = options;
  // The orchestrator is built before the edge client (which needs its twin properties and methods).
  const link: { edge?: SupervisedModuleClient } = {};
  const metrics =
    options.metrics === false
      ? undefined
      : createMetricsServer({
          port: config.metricsPort,
          host: config.metricsHost,
          logger,
          defaultLabels: { module: 'orchestrator' },
        });
  const sinks: WorkflowTelemetry[] = [];
  if (metrics !== undefined) {
    const duration = new Histogram({
      name: 'takt_workflow_duration_seconds',
      help: 'Instance duration from start to its end state',
      labelNames: ['workflow', 'status'],
      buckets: [0.1, 1, 10, 60, 600, 3600, 14_400],
      registers: [metrics.registry],
    });
    const step = new Histogram({
      name: 'takt_step_latency_seconds',
      help: 'Latency of dispatched step actions',
      labelNames: ['workflow', 'ok'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers: [metrics.registry],
    });
    const failures = new Counter({
      name: 'takt_workflow_failures_total',
      help: 'Instances that ended failed',
      labelNames: ['workflow', 'code'],
      registers: [metrics.registry],
    });
    sinks.push({
      workflowDuration: (ms, p) => duration.observe({ workflow: p.workflowId, status: p.status }, ms / 1000),
      stepLatency: (ms, p) => step.observe({ workflow: p.workflowId, ok: String(p.ok) }, ms / 1000),
      failure: (p) => failures.inc({ workflow: p.workflowId, code: p.code }),
      close: () => Promise.resolve(),
    });
  }
  if (options.telemetry !== undefined) sinks.push(options.telemetry);
  const orchestrator = new Orchestrator({
    dataDir: config.dataDir,
    logger,
    telemetry: combineTelemetry(...sinks),
    ...(config.adminUser === undefined ? {} : { adminUser: config.adminUser }),
    ...(config.adminPassword === undefined ? {} : { adminPassword: config.adminPassword }),
    invokeModule: async (moduleId, method, payload, responseTimeoutS) => {
      // Dispatches resumed during recovery (or while reconnecting) wait for the connection instead of
      // failing the step: bounded by the call's own timeout.
      const deadline = Date.now() + responseTimeoutS * 1000;
      for (let i = 0; i < 100_000 && link.edge?.state !== 'connected'; i++) {
        if (Date.now() >= deadline || lifecycle.signal.aborted) {
          throw new OrchestratorError('ORCH_NOT_READY', 'not connected to edgeHub', { retryable: true });
        }
        await sleep(50, lifecycle.signal).catch(() => undefined);
      }
      const edge = link.edge;
      if (edge === undefined) throw new OrchestratorError('ORCH_NOT_READY', 'not connected to edgeHub yet');
      const deviceId = config.deviceId;
      if (deviceId === undefined) {
        throw new OrchestratorError(
          'ORCH_CONFIG_INVALID',
          'the device id is unknown (IOTEDGE_DEVICEID or EdgeHubConnectionString)',
        );
      }
      return edge.invokeModuleMethod(deviceId, moduleId, method, payload, { responseTimeoutS, connectTimeoutS: 5 });
    },
  });
  await lifecycle.add({ name: 'orchestrator', start: () => orchestrator.start(), close: () => orchestrator.close() });
  if (metrics !== undefined) await lifecycle.add(metrics);

  const inbox = new Inbox(orchestrator.db);
  const client = new SupervisedModuleClient({
    logger,
    outbox: orchestrator.outbox,
    inbox,
    methods: orchestratorMethods(orchestrator),
    inputs: {
      orders: (message) => {
        const parsed = orderSchema.safeParse(parseJson(message.body, 'orders'));
        if (!parsed.success) {
          throw new OrchestratorError('ORCH_REQUEST_INVALID', 'orders: malformed production order', {
            details: { problems: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) },
          });
        }
        orchestrator.acceptOrder(parsed.data, message.body.toString('utf8'));
      },
      tags: (message) => {
        const body = parseJson(message.body, 'tags');
        const list = Array.isArray(body) ? body : [body];
        for (const item of list.slice(0, 1000)) {
          const parsed = tagMessageSchema.safeParse(item);
          if (!parsed.success) {
            throw new OrchestratorError('ORCH_REQUEST_INVALID', 'tags: malformed tag change', {
              details: { problems: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) },
            });
          }
          orchestrator.onTagMessage(parsed.data as Parameters<typeof orchestrator.onTagMessage>[0]);
        }
      },
    },
    twin: {
      properties: orchestrator.twinProperties(),
      onChange: (result) => orchestrator.onTwinChange(result),
    },
    ...(options.createClient === undefined ? {} : { createClient: options.createClient }),
  });
  link.edge = client;
  orchestrator.setReporter(
    (patch) => client.reportProperties(patch),
    () => client.twinVersion,
  );
  const report = (): void => {
    if (client.state !== 'connected') return;
    client.reportProperties({ engine: orchestrator.health() }).catch((error: unknown) => {
      logger.warn('could not report engine health', { error: errorMessage(error) });
    });
  };
  client.on('connected', () => {
    orchestrator.onConnected();
    report();
  });
  await lifecycle.add(client);
  const timer = setInterval(report, options.reportEveryMs ?? 15_000);
  timer.unref();
  await lifecycle.add({ name: 'health-reporter', start: () => undefined, close: () => clearInterval(timer) });

  const http = createHttpServer({
    orchestrator,
    logger,
    host: config.httpHost,
    port: config.httpPort,
    connected: () => client.state === 'connected',
  });
  await lifecycle.add(http);
  return { orchestrator, edge: client, http };
}
