/**
 * The fault CLI: calls the plant's Simulation and unit methods over OPC UA and prints one JSON line
 * per result on stdout.
 *
 *     npm run fault -w @takt/sim-opcua-plant -- [--endpoint opc.tcp://127.0.0.1:4840] <command> …
 *
 *     inject <kind> <target> [value]   stuckValve|frozenSensor|noisySensor|drift|refuseCommands|slowMethod
 *     inject dropSessions              drop every session
 *     inject restart - [downtimeMs]    restart the OPC UA server in-process
 *     clear <faultId|target|*>
 *     faults                           list the active faults
 *     state                            the diagnostics snapshot (JSON)
 *     command <unit> <Start|Stop|Hold|Unhold|Suspend|Unsuspend|Abort|Clear|Reset>
 *     estop <on|off>
 *
 * Options (or env): --endpoint (PLANT_ENDPOINT), --pki-dir (PLANT_CLI_PKI_DIR, default
 * ./.takt/opcua-plant/cli-pki), --security None|Sign|SignAndEncrypt, --user (password from
 * PLANT_CLI_PASSWORD). Exit codes: 0 done, 1 the call failed, 2 usage.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { errorMessage, isCodedError } from '@takt/edge-kit';
import { isPackmlCommand } from './model/packml.js';
import { connectPlantClient } from './opcua/client.js';

const USAGE = `usage: cli [--endpoint URL] [--pki-dir DIR] [--security MODE] [--user NAME] <command>
  inject <kind> <target> [value] | clear <id|target|*> | faults | state
  command <unit> <PackML command> | estop <on|off>`;

function out(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        endpoint: { type: 'string' },
        'pki-dir': { type: 'string' },
        security: { type: 'string' },
        user: { type: 'string' },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    process.stderr.write(`${errorMessage(error)}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  const security = values.security ?? 'None';
  if (command === undefined || (security !== 'None' && security !== 'Sign' && security !== 'SignAndEncrypt')) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const client = await connectPlantClient({
    endpointUrl: values.endpoint ?? process.env['PLANT_ENDPOINT'] ?? 'opc.tcp://127.0.0.1:4840',
    pkiDir: resolve(values['pki-dir'] ?? process.env['PLANT_CLI_PKI_DIR'] ?? '.takt/opcua-plant/cli-pki'),
    securityMode: security,
    applicationName: 'takt-plant-cli',
    ...(values.user === undefined ? {} : { username: values.user, password: process.env['PLANT_CLI_PASSWORD'] ?? '' }),
  });
  const { DataType } = client.lib;
  try {
    switch (command) {
      case 'inject': {
        const [kind, target, value] = rest;
        if (kind === undefined) break;
        const number = value === undefined ? 0 : Number(value);
        if (!Number.isFinite(number)) break;
        const [faultId] = await client.call('Simulation.InjectFault', [
          { dataType: DataType.String, value: kind },
          { dataType: DataType.String, value: target === undefined || target === '-' ? '' : target },
          { dataType: DataType.Double, value: number },
        ]);
        out({ injected: kind, target: target ?? '', faultId });
        return 0;
      }
      case 'clear': {
        const [which] = rest;
        const [cleared] = await client.call('Simulation.ClearFault', [
          { dataType: DataType.String, value: which ?? '*' },
        ]);
        out({ cleared });
        return 0;
      }
      case 'faults':
        out({ faults: JSON.parse(String(await client.read('Simulation.ActiveFaults'))) as unknown });
        return 0;
      case 'state':
        out(JSON.parse(String(await client.read('Simulation.Diagnostics'))) as unknown);
        return 0;
      case 'command': {
        const [unit, packml] = rest;
        if (unit === undefined || packml === undefined || !isPackmlCommand(packml)) break;
        await client.call(`${unit}.${packml}`);
        out({ unit, command: packml, state: await client.read(`${unit}.State`) });
        return 0;
      }
      case 'estop': {
        const [onOff] = rest;
        if (onOff !== 'on' && onOff !== 'off') break;
        await client.write('Plant.EmergencyStop', onOff === 'on');
        out({ emergencyStop: onOff });
        return 0;
      }
      default:
        break;
    }
    process.stderr.write(`${USAGE}\n`);
    return 2;
  } finally {
    await client.close();
  }
}

try {
  process.exitCode = await run(process.argv.slice(2));
} catch (error) {
  out({ error: isCodedError(error) ? error.code : 'ERROR', message: errorMessage(error) });
  process.exitCode = 1;
}
