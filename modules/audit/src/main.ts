/**
 * The audit module's entry point (the only file that touches `process`).
 */
import { createLogger, createMetricsServer, parseLogLevel, resolveConfig, runMain } from '@takt/edge-kit';
import { EnvSchema, resolveEnv } from './config.js';
import { AuditModule } from './edge/audit-module.js';
import { sampleAuditTelemetry, startAuditTelemetry } from './edge/telemetry.js';
import { AuditStore } from './store/audit-store.js';

const logger = createLogger({
  level: parseLogLevel(process.env['RuntimeLogLevel']),
  bindings: { module: 'audit' },
});

runMain(
  async ({ lifecycle }) => {
    const env = resolveConfig(EnvSchema, process.env);
    const config = resolveEnv(env);
    // Application Insights only with APPLICATIONINSIGHTS_CONNECTION_STRING; registered first, flushed last.
    const telemetry = await startAuditTelemetry(lifecycle, { env: process.env, logger });
    const store = AuditStore.open(config.databaseFile, { macKey: config.macKey });
    await lifecycle.add({ name: 'audit-store', close: () => store.close() });
    const metrics = createMetricsServer({
      port: config.metricsPort,
      host: config.metricsHost,
      logger,
      defaultLabels: { module: 'audit' },
    });
    await lifecycle.add(metrics);
    const audit = new AuditModule({
      store,
      logger,
      registry: metrics.registry,
      onStoreFailure: () => {
        // Exit before the SDK acknowledges the input message: edgeHub keeps it and delivers it again.
        process.exit(70);
      },
    });
    const metricsTimer = setInterval(() => audit.syncMetrics(), 5_000);
    metricsTimer.unref();
    await lifecycle.add({ name: 'metrics-sync', close: () => clearInterval(metricsTimer) });
    await lifecycle.add(audit);
    await sampleAuditTelemetry(lifecycle, telemetry, {
      stats: audit.service.stats,
      get head() {
        return store.head;
      },
    });
    logger.info('ready', { chain: store.chainId, headSeq: store.head.seq, mac: store.macEnabled });
  },
  { logger },
);
