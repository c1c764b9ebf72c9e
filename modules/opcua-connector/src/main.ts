/**
 * The module process: configuration from the environment (twin settings arrive through the
 * SupervisedModuleClient), metrics on 9600, the connector module, `ready` in the log.
 */
import { join } from 'node:path';
import { createLogger, createMetricsServer, parseLogLevel, resolveConfig, runMain } from '@takt/edge-kit';
import { EnvSchema } from './config/settings.js';
import { registerConnectorMetrics } from './edge/metrics.js';
import { startConnectorModule } from './edge/module.js';
import { sampleConnectorTelemetry, startConnectorTelemetry } from './edge/telemetry.js';

const env = resolveConfig(EnvSchema, process.env);
const logger = createLogger({
  level: parseLogLevel(env.RuntimeLogLevel),
  bindings: { module: env.IOTEDGE_MODULEID ?? 'opcua-connector' },
});

runMain(
  async ({ lifecycle }) => {
    // Application Insights only with APPLICATIONINSIGHTS_CONNECTION_STRING; registered first, flushed last.
    const telemetry = await startConnectorTelemetry(lifecycle, {
      env: process.env,
      logger,
      roleInstance: env.IOTEDGE_DEVICEID ?? env.OPCUA_APPLICATION_NAME,
    });
    const metrics = createMetricsServer({
      logger,
      port: env.TAKT_METRICS_PORT,
      defaultLabels: { module: 'opcua-connector' },
    });
    await lifecycle.add({ name: 'metrics', start: () => metrics.start(), close: () => metrics.close() });
    const module = await startConnectorModule({
      logger,
      dataDir: env.TAKT_DATA_DIR,
      publishedNodesFile: env.OPCUA_PUBLISHED_NODES_FILE ?? join(env.TAKT_DATA_DIR, 'publishednodes.json'),
      applicationName: env.OPCUA_APPLICATION_NAME,
      publisherId: env.IOTEDGE_DEVICEID
        ? `${env.IOTEDGE_DEVICEID}/${env.IOTEDGE_MODULEID ?? 'opcua-connector'}`
        : env.OPCUA_APPLICATION_NAME,
      ...(env.OPCUA_AUTO_ACCEPT_UNTRUSTED_CERTIFICATES === undefined
        ? {}
        : { autoAcceptUntrustedCertificates: env.OPCUA_AUTO_ACCEPT_UNTRUSTED_CERTIFICATES }),
      secret: (name) => process.env[`OPCUA_SECRET_${name}`],
    });
    await lifecycle.add({ name: 'opcua-connector', close: () => module.close() });
    registerConnectorMetrics(metrics.registry, module.connector);
    await sampleConnectorTelemetry(lifecycle, telemetry, module.connector);
    logger.info('ready');
  },
  { logger },
);
