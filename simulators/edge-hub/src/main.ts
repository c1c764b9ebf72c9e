/**
 * `edge-hub`: the IoT Hub + edgeHub emulator as a process.
 *
 *     node --conditions=takt-source --import tsx simulators/edge-hub/src/main.ts \
 *       [--data-dir .takt/edge-hub] [--manifest deployment/deployment.template.json] [--host 127.0.0.1] \
 *       [--mqtt-port 8883] [--https-port 443] [--control-port 0] [--workload-socket PATH | --workload-port N] \
 *       [--device-id takt-edge] [--hub-host-name takt-local.azure-devices.net] [--module ID]...
 *
 * Environment (used when the flag is absent): TAKT_EDGEHUB_DATA_DIR, TAKT_EDGEHUB_MANIFEST, TAKT_EDGEHUB_HOST,
 * TAKT_EDGEHUB_CONTROL_PORT, RuntimeLogLevel. Prints one line `edge-hub ready mqtts://… https://… control=… workload=…`
 * on stdout once every listener is up; SIGTERM/SIGINT close it and exit 0.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createLogger, parseLogLevel } from '@takt/edge-kit';
import { startEdgeHub } from './edge-hub.js';

const repoTemplate = fileURLToPath(new URL('../../../deployment/deployment.template.json', import.meta.url));
const env = process.env;
const log = createLogger({ level: parseLogLevel(env['RuntimeLogLevel']), bindings: { module: 'edge-hub' } });

function port(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    log.fatal('invalid port', { option: name, value });
    process.exit(2);
  }
  return n;
}

try {
  const { values } = parseArgs({
    options: {
      'data-dir': { type: 'string' },
      manifest: { type: 'string' },
      host: { type: 'string' },
      'mqtt-port': { type: 'string' },
      'https-port': { type: 'string' },
      'control-port': { type: 'string' },
      'workload-socket': { type: 'string' },
      'workload-port': { type: 'string' },
      'device-id': { type: 'string' },
      'hub-host-name': { type: 'string' },
      module: { type: 'string', multiple: true },
    },
    strict: true,
  });
  const manifestArg = values.manifest ?? env['TAKT_EDGEHUB_MANIFEST'];
  const manifest =
    manifestArg !== undefined ? resolve(manifestArg) : existsSync(repoTemplate) ? repoTemplate : undefined;
  const workloadPort = port(values['workload-port'], 'workload-port');
  const hub = await startEdgeHub({
    dataDir: resolve(values['data-dir'] ?? env['TAKT_EDGEHUB_DATA_DIR'] ?? '.takt/edge-hub'),
    ...(manifest === undefined ? {} : { manifest }),
    host: values.host ?? env['TAKT_EDGEHUB_HOST'] ?? '127.0.0.1',
    ...(values['mqtt-port'] === undefined ? {} : { mqttPort: port(values['mqtt-port'], 'mqtt-port') ?? 8883 }),
    ...(values['https-port'] === undefined ? {} : { httpsPort: port(values['https-port'], 'https-port') ?? 443 }),
    controlPort: port(values['control-port'] ?? env['TAKT_EDGEHUB_CONTROL_PORT'], 'control-port') ?? 0,
    ...(values['workload-socket'] !== undefined
      ? { workload: { socketPath: resolve(values['workload-socket']) } }
      : workloadPort !== undefined
        ? { workload: { port: workloadPort } }
        : {}),
    ...(values['device-id'] === undefined ? {} : { deviceId: values['device-id'] }),
    ...(values['hub-host-name'] === undefined ? {} : { hubHostName: values['hub-host-name'] }),
    ...(values.module === undefined ? {} : { modules: values.module }),
    logger: log,
  });
  process.stdout.write(`${hub.readyLine}\n`);
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log.info('stopping', { signal });
    hub.close().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error('close failed', { error });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} catch (error) {
  log.fatal('edge-hub failed to start', { error });
  process.exit(1);
}
