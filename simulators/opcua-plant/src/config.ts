/**
 * Configuration of the simulator process, parsed once at the edge (command line over environment
 * over defaults) into a frozen object. Passwords come from the environment only (PLANT_USERS).
 */
import { isAbsolute, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type LogLevel, parseLogLevel } from '@takt/edge-kit';
import { PlantError } from './errors.js';
import { DEFAULT_LAYOUT_FILE } from './layout/layout.js';
import {
  DEFAULT_MIN_PUBLISHING_INTERVAL_MS,
  SECURITY_MODES,
  type PlantUser,
  type SecurityModeName,
} from './opcua/plant-server.js';
import { MAX_SPEED_FACTOR, MIN_SPEED_FACTOR } from './runtime/plant-runtime.js';

export interface ResolvedPlantConfig {
  readonly host: string;
  readonly port: number;
  readonly speedFactor: number;
  readonly tickMs: number;
  /** The fastest publishing interval the server grants (ms). */
  readonly minPublishingIntervalMs: number;
  readonly seed: number;
  readonly layoutFile: string;
  readonly dataDir: string;
  readonly pkiDir: string;
  readonly securityModes: readonly SecurityModeName[];
  readonly allowAnonymous: boolean;
  readonly users: readonly PlantUser[];
  /** Loopback HTTP diagnostics port; undefined = off, 0 = any free port. */
  readonly diagPort: number | undefined;
  readonly logLevel: LogLevel;
}

/** Command-line options; each has a PLANT_* environment variable (README "Run locally"). */
export const OPTIONS = {
  host: { env: 'PLANT_HOST', help: 'bind address (default 127.0.0.1)' },
  port: { env: 'PLANT_PORT', help: 'OPC UA port, 0 = any free port (default 4840)' },
  speed: { env: 'PLANT_SPEED', help: `speed-up factor ${MIN_SPEED_FACTOR}..${MAX_SPEED_FACTOR} (default 1)` },
  'tick-ms': { env: 'PLANT_TICK_MS', help: 'real ms between physics ticks (default 100)' },
  'min-publishing-ms': {
    env: 'PLANT_MIN_PUBLISHING_MS',
    help: `fastest publishing interval granted, 1..1000 (default ${DEFAULT_MIN_PUBLISHING_INTERVAL_MS})`,
  },
  seed: { env: 'PLANT_SEED', help: 'random seed (default 1)' },
  layout: { env: 'PLANT_LAYOUT', help: 'layout JSON file (default layouts/batch-plant.json)' },
  'data-dir': { env: 'PLANT_DATA_DIR', help: 'data folder (default ./.takt/opcua-plant)' },
  'pki-dir': { env: 'PLANT_PKI_DIR', help: 'certificate folder (default <data-dir>/pki)' },
  security: { env: 'PLANT_SECURITY_MODES', help: 'comma list of None,Sign,SignAndEncrypt (default all)' },
  'allow-anonymous': { env: 'PLANT_ALLOW_ANONYMOUS', help: 'true|false (default true)' },
  'diag-port': { env: 'PLANT_DIAG_PORT', help: 'loopback HTTP diagnostics port, 0 = any (default off)' },
  'log-level': { env: 'PLANT_LOG_LEVEL', help: 'trace|debug|info|warn|error (default info, or RuntimeLogLevel)' },
} as const;

type OptionName = keyof typeof OPTIONS;

export function resolveConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  cwd: string = process.cwd(),
): ResolvedPlantConfig {
  const problems: string[] = [];
  let values: Partial<Record<OptionName, string>> = {};
  try {
    const parsed = parseArgs({
      args: [...argv],
      options: Object.fromEntries(Object.keys(OPTIONS).map((name) => [name, { type: 'string' as const }])),
      strict: true,
      allowPositionals: false,
    });
    values = parsed.values;
  } catch (error) {
    problems.push(error instanceof Error ? error.message : String(error));
  }
  const raw = (name: OptionName): string | undefined => {
    const value = values[name] ?? env[OPTIONS[name].env];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  };
  const number = (name: OptionName, fallback: number, min: number, max: number, integer: boolean): number => {
    const text = raw(name);
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
      problems.push(
        `--${name} / ${OPTIONS[name].env}: expected ${integer ? 'an integer' : 'a number'} in ${min}..${max}, got "${text}"`,
      );
      return fallback;
    }
    return value;
  };

  const host = raw('host') ?? '127.0.0.1';
  const port = number('port', 4840, 0, 65535, true);
  const speedFactor = number('speed', 1, MIN_SPEED_FACTOR, MAX_SPEED_FACTOR, false);
  const tickMs = number('tick-ms', 100, 5, 10_000, true);
  const minPublishingIntervalMs = number('min-publishing-ms', DEFAULT_MIN_PUBLISHING_INTERVAL_MS, 1, 1000, true);
  const seed = number('seed', 1, 0, 2 ** 31 - 1, true);
  const diagText = raw('diag-port');
  const diagPort = diagText === undefined ? undefined : number('diag-port', 0, 0, 65535, true);
  const abs = (path: string): string => (isAbsolute(path) ? path : resolve(cwd, path));
  const layoutFile = abs(raw('layout') ?? DEFAULT_LAYOUT_FILE);
  const dataDir = abs(raw('data-dir') ?? join('.takt', 'opcua-plant'));
  const pkiDir = abs(raw('pki-dir') ?? join(dataDir, 'pki'));

  const securityText = raw('security');
  const securityModes: SecurityModeName[] = [];
  for (const mode of (securityText ?? SECURITY_MODES.join(',')).split(',').map((m) => m.trim())) {
    if ((SECURITY_MODES as readonly string[]).includes(mode)) {
      if (!securityModes.includes(mode as SecurityModeName)) securityModes.push(mode as SecurityModeName);
    } else problems.push(`--security / PLANT_SECURITY_MODES: unknown mode "${mode}" (None, Sign, SignAndEncrypt)`);
  }
  if (securityModes.length === 0) problems.push('--security / PLANT_SECURITY_MODES: at least one mode');

  const anonymousText = raw('allow-anonymous') ?? 'true';
  if (anonymousText !== 'true' && anonymousText !== 'false') {
    problems.push('--allow-anonymous / PLANT_ALLOW_ANONYMOUS: true or false');
  }

  const users: PlantUser[] = [];
  const usersText = env['PLANT_USERS'];
  if (usersText !== undefined && usersText.trim() !== '') {
    for (const entry of usersText.split(',')) {
      const colon = entry.indexOf(':');
      const username = colon > 0 ? entry.slice(0, colon).trim() : '';
      const password = colon > 0 ? entry.slice(colon + 1) : '';
      if (username === '' || password === '') problems.push('PLANT_USERS: expected "user:password,user2:password2"');
      else users.push({ username, password });
    }
  }
  if (anonymousText === 'false' && users.length === 0) {
    problems.push('PLANT_ALLOW_ANONYMOUS=false needs at least one user in PLANT_USERS');
  }

  if (problems.length > 0) {
    throw new PlantError('PLANT_CONFIG_INVALID', `invalid configuration: ${problems.join('; ')}`, {
      details: { problems },
    });
  }
  return Object.freeze({
    host,
    port,
    speedFactor,
    tickMs,
    minPublishingIntervalMs,
    seed,
    layoutFile,
    dataDir,
    pkiDir,
    securityModes: Object.freeze(securityModes),
    allowAnonymous: anonymousText === 'true',
    users: Object.freeze(users.map((u) => Object.freeze(u))),
    diagPort,
    logLevel: parseLogLevel(raw('log-level') ?? env['RuntimeLogLevel'], 'info'),
  });
}
