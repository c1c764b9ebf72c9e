/**
 * The simulator process: `node --conditions=takt-source --import tsx src/main.ts [options]`.
 * Prints one ready line on stdout once the OPC UA server listens:
 *
 *     opcua-plant ready opc.tcp://127.0.0.1:4840 layout=batch-plant speed=1 diag=http://127.0.0.1:PORT startupMs=1234 rssMb=180
 *
 * Exit codes: 0 after SIGTERM/SIGINT, 1 start failure, 2 invalid configuration or layout.
 */
import { createLogger, errorMessage, isCodedError } from '@takt/edge-kit';
import { resolveConfig } from './config.js';
import { loadLayout } from './layout/layout.js';
import { routeNodeOpcuaLogs } from './opcua/node-opcua.js';
import { startPlant } from './plant.js';

const CLOSE_TIMEOUT_MS = 5_000;

async function main(): Promise<void> {
  // Signals are handled from the first moment: a stop during start-up closes what has started.
  let stopRequested: NodeJS.Signals | undefined;
  let onStop: ((signal: NodeJS.Signals) => void) | undefined = undefined;
  const handleSignal = (signal: NodeJS.Signals): void => {
    stopRequested ??= signal;
    onStop?.(signal);
  };
  process.on('SIGTERM', handleSignal);
  process.on('SIGINT', handleSignal);
  const bootLogger = createLogger({ bindings: { module: 'opcua-plant' } });
  let config;
  let layout;
  try {
    config = resolveConfig(process.argv.slice(2), process.env);
    layout = await loadLayout(config.layoutFile);
  } catch (error) {
    bootLogger.fatal('cannot start the plant simulator', { error });
    process.exitCode = 2;
    process.off('SIGTERM', handleSignal);
    process.off('SIGINT', handleSignal);
    return;
  }
  const logger = createLogger({ level: config.logLevel, bindings: { module: 'opcua-plant' } });
  const libraryLogger = logger.child({ component: 'node-opcua' });
  routeNodeOpcuaLogs((level, text) => libraryLogger[level](text));
  let plant;
  try {
    plant = await startPlant({
      layout,
      host: config.host,
      port: config.port,
      speedFactor: config.speedFactor,
      tickMs: config.tickMs,
      minPublishingIntervalMs: config.minPublishingIntervalMs,
      seed: config.seed,
      pkiDir: config.pkiDir,
      securityModes: config.securityModes,
      allowAnonymous: config.allowAnonymous,
      users: config.users,
      ...(config.diagPort === undefined ? {} : { diagPort: config.diagPort }),
      logger,
    });
  } catch (error) {
    logger.fatal('the plant simulator did not start', {
      error,
      code: isCodedError(error) ? error.code : undefined,
    });
    process.exitCode = 1;
    process.off('SIGTERM', handleSignal);
    process.off('SIGINT', handleSignal);
    return;
  }
  const startupMs = Math.round(process.uptime() * 1000);
  const rssMb = Math.round(process.memoryUsage().rss / 1_048_576);
  const diag = plant.diagnosticsUrl === undefined ? '' : ` diag=${plant.diagnosticsUrl}`;
  // The ready line is a protocol for runners (not a log line): one plain line, stable format.
  process.stdout.write(
    `opcua-plant ready ${plant.endpointUrl} layout=${layout.name} speed=${config.speedFactor}${diag} startupMs=${startupMs} rssMb=${rssMb}\n`,
  );
  logger.info('plant ready', {
    endpointUrl: plant.endpointUrl,
    securityModes: config.securityModes,
    users: config.users.map((u) => u.username),
    allowAnonymous: config.allowAnonymous,
    pkiDir: config.pkiDir,
    startupMs,
    rssMb,
  });

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.info('stopping', { signal });
    const timer = setTimeout(() => {
      logger.error('close timed out; exiting', { timeoutMs: CLOSE_TIMEOUT_MS });
      process.exit(1);
    }, CLOSE_TIMEOUT_MS);
    timer.unref();
    plant.close().then(
      () => {
        clearTimeout(timer);
        logger.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error('close failed', { error: errorMessage(error) });
        process.exit(1);
      },
    );
  };
  onStop = stop;
  if (stopRequested !== undefined) stop(stopRequested);
}

await main();
