/** The orchestrator module process: configuration from the environment, then every component on one lifecycle. */
import { createLogger, parseLogLevel, runMain } from '@takt/edge-kit';
import { startOrchestratorModule } from './app/module.js';
import { resolveOrchestratorConfig } from './config.js';
import { loadTelemetry } from './telemetry/telemetry.js';

const logger = createLogger({
  level: parseLogLevel(process.env['RuntimeLogLevel'] ?? 'info'),
  bindings: { module: 'orchestrator' },
});

runMain(
  async ({ lifecycle }) => {
    const config = resolveOrchestratorConfig(process.env);
    const telemetry = await loadTelemetry(process.env, logger, config.deviceId);
    await lifecycle.add({ name: 'telemetry', close: () => telemetry.close() });
    const module = await startOrchestratorModule(lifecycle, { config, logger, telemetry });
    logger.info('ready', { httpPort: module.http.port(), dataDir: config.dataDir });
  },
  { logger },
);
