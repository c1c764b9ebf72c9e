/**
 * The whole suite as separate processes, for end-to-end tests — what `npm start` runs: the IoT Hub +
 * edgeHub emulator (reading the deployment manifest, here with the sample batch workflow, its recipes
 * and the orchestrator settings in the orchestrator's desired properties), the OPC UA plant at a high
 * speed factor, and every module under `modules/` that has `src/main.ts`, each with the workload-API
 * environment (`IOTEDGE_*`), its own `TAKT_DATA_DIR` and free ports.
 *
 * @example
 * const suite = await startSuite({ host: '127.48.1.1' });
 * const readiness = await suite.waitReady();
 * await suite.control.invokeMethod('orchestrator', { methodName: 'startWorkflow', payload: { … } });
 * await suite.stop();
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EdgeHubControlClient } from '@takt/sim-edge-hub';
import { type ChildHandle, type TempDir, createTempDir, spawnTs, waitFor } from '@takt/test-support';

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** The edge-kit logger's `ready` line (`<6> 2026-11-25 10:00:00.000 +00:00 ready {…}`). */
export const readyLinePattern = /^<\d> \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \+00:00 ready(?: \{.*\})?$/;

const PLANT_PORT = 4840;

export interface SuiteOptions {
  /** Loopback address for the emulator (8883/443 are fixed) and the plant (port 4840). */
  host: string;
  /** Data folder (SQLite files, certificates, manifest). Default: a fresh temp folder, removed on stop. */
  dataDir?: string;
  /** Plant speed-up factor. Default 50. */
  plantSpeed?: number;
  /**
   * Real milliseconds between the plant's physics ticks (5 … 10,000; the plant's default 100). A written
   * setpoint is published at the next tick, so latency measurements want it small.
   */
  plantTickMs?: number;
  /** Modules to start (folder names under modules/). Default: every one with src/main.ts. */
  modules?: readonly string[];
  /** Extra environment per module id (after the defaults). */
  moduleEnv?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /**
   * Desired properties merged into the manifest per module (e.g. `{ orchestrator: {...} }`). Default:
   * the batch workflow, recipes and settings for this plant ({@link batchDesired}); `false` leaves the
   * manifest as it is.
   */
  desired?: Readonly<Record<string, Record<string, unknown>>> | false;
  /** Echo every process's output to stderr (debugging). */
  echo?: boolean;
  /** How long each process may take to be ready. Default 60,000 ms. */
  readyTimeoutMs?: number;
}

/** One module process (replaced when the module is restarted). */
export interface ModuleProcess {
  readonly id: string;
  readonly handle: ChildHandle;
  readonly env: Readonly<Record<string, string>>;
}

/** What the Azure emulators' ready line announces (`dt=`, `sb=`, `eg=`, `eg-key=`, `ca=`). */
export interface AzureEndpoints {
  readonly handle: ChildHandle;
  /** Digital Twins (also the Entra ID authority host): `https://<host>:<port>`. */
  readonly dtUrl: string;
  /** Service Bus connection string (plain AMQP, `UseDevelopmentEmulator=true`). */
  readonly sbConnectionString: string;
  readonly egEndpoint: string;
  readonly egKey: string;
  /** The local CA that signed the HTTPS emulators' certificate (PEM file). */
  readonly caPath: string;
}

export type ModuleReadiness = Record<string, 'ready' | `not ready: ${string}`>;

export interface Suite {
  readonly host: string;
  readonly dataDir: string;
  readonly controlUrl: string;
  readonly control: EdgeHubControlClient;
  /** `opc.tcp://<host>:4840` */
  readonly plantUrl: string;
  /** The plant's HTTP diagnostics (`GET /state`, `GET /healthz`). */
  readonly diagUrl: string;
  readonly hub: ChildHandle;
  readonly plant: ChildHandle;
  /** The Azure service emulators' process and what its ready line announced. */
  readonly azure: AzureEndpoints;
  /** The module processes by id (the current process after a restart). */
  readonly modules: ReadonlyMap<string, ModuleProcess>;
  /** The orchestrator's console API, once it logged `ready` (changes when it restarts). */
  consoleUrl(): string | undefined;
  /** The first admin of the orchestrator (TAKT_ADMIN_USER / TAKT_ADMIN_PASSWORD). */
  readonly admin: { user: string; password: string };
  /** Waits until every module logged `ready` (the orchestrator also answers `GET /healthz` 200). */
  waitReady(timeoutMs?: number): Promise<ModuleReadiness>;
  /** Starts a module process again (after {@link killModule} or {@link stopModule}). */
  startModule(id: string): ModuleProcess;
  /** Starts a module again after a kill or stop and waits for its `ready` line (and the console API). */
  restart(id: string, timeoutMs?: number): Promise<ModuleProcess>;
  /** SIGKILL (crash). */
  killModule(id: string): Promise<void>;
  /** SIGTERM, then SIGKILL after the grace time. */
  stopModule(id: string): Promise<void>;
  /** Stops everything (modules, plant, emulator), then removes a temporary data folder. */
  stop(): Promise<void>;
}

/** Modules with an entry point, in start order (as `npm start` finds them). */
export function discoverModules(root = repoRoot): string[] {
  const folder = join(root, 'modules');
  if (!existsSync(folder)) return [];
  return readdirSync(folder)
    .filter((m) => existsSync(join(folder, m, 'src', 'main.ts')))
    .sort();
}

/**
 * Desired properties that deploy the sample batch against the plant at `plantUrl`: the orchestrator's
 * `workflows.batch`, `recipes` and `settings`, the connector's command endpoint `endpoints.plant`
 * (files in deployment/workflows/, with the plant URL put in) and the manifest's `publishedNodes` with
 * their endpoint set to the plant URL.
 */
export function batchDesired(plantUrl: string, root = repoRoot): Record<string, Record<string, unknown>> {
  const read = (name: string): Record<string, unknown> =>
    JSON.parse(readFileSync(join(root, 'deployment', 'workflows', name), 'utf8')) as Record<string, unknown>;
  const endpoints = read('opcua-connector-endpoints.json');
  // the manifest's telemetry (publishedNodes) points at 127.0.0.1:4840: point it at this plant too, so a
  // test's connector never reads another suite's plant (`npm start` on the same machine)
  const template = JSON.parse(readFileSync(join(root, 'deployment', 'deployment.template.json'), 'utf8')) as {
    modulesContent: Record<string, { 'properties.desired'?: { publishedNodes?: Record<string, unknown>[] } }>;
  };
  const publishedNodes = template.modulesContent['opcua-connector']?.['properties.desired']?.publishedNodes;
  return {
    orchestrator: {
      workflows: { batch: read('batch.json') },
      recipes: read('recipes.json'),
      settings: { ...read('orchestrator-settings.json'), defaultEndpointUrl: plantUrl },
    },
    'opcua-connector': {
      endpoints: Object.fromEntries(
        Object.entries(endpoints).map(([name, entry]) => [name, { ...(entry as object), EndpointUrl: plantUrl }]),
      ),
      ...(publishedNodes === undefined
        ? {}
        : { publishedNodes: publishedNodes.map((entry) => ({ ...entry, EndpointUrl: plantUrl })) }),
    },
  };
}

function manifestWith(desired: Readonly<Record<string, Record<string, unknown>>>): Record<string, unknown> {
  const template = JSON.parse(readFileSync(join(repoRoot, 'deployment', 'deployment.template.json'), 'utf8')) as {
    modulesContent: Record<string, { 'properties.desired'?: Record<string, unknown> }>;
  };
  for (const [moduleId, props] of Object.entries(desired)) {
    const entry = template.modulesContent[moduleId] ?? {};
    entry['properties.desired'] = { ...entry['properties.desired'], ...props };
    template.modulesContent[moduleId] = entry;
  }
  return template;
}

function field(line: string, pattern: RegExp, what: string): string {
  const value = pattern.exec(line)?.[1];
  if (value === undefined) throw new Error(`${what} missing in "${line}"`);
  return value;
}

/** Starts the emulator and the plant, then every module; resolves once the emulator and plant are up. */
export async function startSuite(options: SuiteOptions): Promise<Suite> {
  const temp: TempDir | undefined = options.dataDir === undefined ? await createTempDir('takt-e2e-') : undefined;
  const dataDir = options.dataDir ?? (temp as TempDir).path;
  mkdirSync(join(dataDir, 'edge-hub'), { recursive: true });
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  const echo = options.echo ?? false;
  const plantUrl = `opc.tcp://${options.host}:${PLANT_PORT}`;
  const admin = { user: 'admin', password: 'e2e-admin-password' };

  const desired = options.desired === false ? {} : (options.desired ?? batchDesired(plantUrl));
  const manifestFile = join(dataDir, 'deployment.template.json');
  writeFileSync(manifestFile, `${JSON.stringify(manifestWith(desired), null, 2)}\n`);

  const spawned: ChildHandle[] = [];
  const stopAll = async (): Promise<void> => {
    for (const child of [...spawned].reverse()) await child.stop(10_000).catch(() => undefined);
  };
  try {
    const hub = spawnTs(
      'simulators/edge-hub/src/main.ts',
      [
        '--data-dir',
        join(dataDir, 'edge-hub'),
        '--manifest',
        manifestFile,
        '--host',
        options.host,
        '--workload-socket',
        join(dataDir, 'edge-hub', 'workload.sock'),
      ],
      { cwd: repoRoot, name: 'edge-hub', echo, stopAfterTest: false },
    );
    spawned.push(hub);
    const plant = spawnTs(
      'simulators/opcua-plant/src/main.ts',
      [
        '--host',
        options.host,
        '--port',
        String(PLANT_PORT),
        '--speed',
        String(options.plantSpeed ?? 50),
        '--data-dir',
        join(dataDir, 'opcua-plant'),
        '--diag-port',
        '0',
        ...(options.plantTickMs === undefined ? [] : ['--tick-ms', String(options.plantTickMs)]),
      ],
      { cwd: repoRoot, name: 'opcua-plant', echo, stopAfterTest: false },
    );
    spawned.push(plant);
    const azureHandle = spawnTs(
      'simulators/azure/src/main.ts',
      ['--host', options.host, '--cert-dir', join(dataDir, 'azure', 'certs')],
      { cwd: repoRoot, name: 'azure', echo, stopAfterTest: false },
    );
    spawned.push(azureHandle);
    const hubLine = await hub.waitForLine(/^edge-hub ready /, readyTimeoutMs);
    const controlUrl = field(hubLine, /control=(\S+)/, 'control URL');
    const control = new EdgeHubControlClient(controlUrl, { timeoutMs: 60_000 });
    const plantLine = await plant.waitForLine(/^opcua-plant ready /, readyTimeoutMs);
    const diagUrl = field(plantLine, /diag=(\S+)/, 'diagnostics URL');
    const announced = field(plantLine, /ready (\S+)/, 'endpoint');
    if (announced !== plantUrl) throw new Error(`the plant announced ${announced}, expected ${plantUrl}`);

    const azureLine = await azureHandle.waitForLine(/^azure-emulators ready /, readyTimeoutMs);
    const azureField = (key: string): string => field(azureLine, new RegExp(`(?:^| )${key}=(\\S+)`), key);
    const azure: AzureEndpoints = {
      handle: azureHandle,
      dtUrl: azureField('dt'),
      sbConnectionString: azureField('sb'),
      egEndpoint: azureField('eg'),
      egKey: azureField('eg-key'),
      caPath: azureField('ca'),
    };

    const moduleIds = options.modules ?? discoverModules();
    const envs = new Map<string, Record<string, string>>();
    for (const id of moduleIds) {
      const { env } = await control.moduleEnv(id, 'workload');
      envs.set(id, {
        ...env,
        TAKT_DATA_DIR: join(dataDir, id),
        TAKT_METRICS_PORT: '0',
        TAKT_METRICS_HOST: '127.0.0.1',
        RuntimeLogLevel: 'info',
        ...(id === 'orchestrator'
          ? {
              TAKT_HTTP_HOST: '127.0.0.1',
              TAKT_HTTP_PORT: '0',
              TAKT_ADMIN_USER: admin.user,
              TAKT_ADMIN_PASSWORD: admin.password,
            }
          : {}),
        ...(id === 'cloud-bridge'
          ? {
              // as scripts/start.ts: the real Azure SDK clients against the emulators, the CA trusted at start
              NODE_EXTRA_CA_CERTS: azure.caPath,
              TAKT_DT_URL: azure.dtUrl,
              AZURE_AUTHORITY_HOST: azure.dtUrl,
              AZURE_TENANT_ID: 'takt-local',
              AZURE_CLIENT_ID: 'takt-local',
              AZURE_CLIENT_SECRET: 'takt-local',
              TAKT_SB_CONNECTION_STRING: azure.sbConnectionString,
              TAKT_EG_ENDPOINT: azure.egEndpoint,
              TAKT_EG_KEY: azure.egKey,
            }
          : {}),
        ...options.moduleEnv?.[id],
      });
    }

    const modules = new Map<string, ModuleProcess>();
    const startModule = (id: string): ModuleProcess => {
      const env = envs.get(id);
      if (env === undefined) throw new Error(`module ${id} is not part of this suite (${moduleIds.join(', ')})`);
      const current = modules.get(id);
      if (
        current !== undefined &&
        current.handle.process.exitCode === null &&
        current.handle.process.signalCode === null
      ) {
        throw new Error(`module ${id} is still running (pid ${current.handle.pid})`);
      }
      mkdirSync(env['TAKT_DATA_DIR'] ?? join(dataDir, id), { recursive: true });
      const handle = spawnTs(`modules/${id}/src/main.ts`, [], {
        cwd: repoRoot,
        name: id,
        env,
        echo,
        stopAfterTest: false,
      });
      spawned.push(handle);
      const proc = { id, handle, env };
      modules.set(id, proc);
      return proc;
    };
    for (const id of moduleIds) startModule(id);

    const consoleUrl = (): string | undefined => {
      const line = modules
        .get('orchestrator')
        ?.handle.output()
        .split('\n')
        .findLast((l) => readyLinePattern.test(l));
      const port = line === undefined ? undefined : /"httpPort":(\d+)/.exec(line)?.[1];
      return port === undefined ? undefined : `http://127.0.0.1:${port}`;
    };

    const waitModule = async (id: string, handle: ChildHandle, timeoutMs: number): Promise<void> => {
      await handle.waitForLine(readyLinePattern, timeoutMs);
      if (id === 'orchestrator') {
        await waitFor(
          async () => {
            const url = consoleUrl();
            return url !== undefined && (await fetch(`${url}/healthz`)).status === 200;
          },
          { timeoutMs, description: 'orchestrator GET /healthz 200' },
        );
      }
    };

    const waitReady = async (timeoutMs = readyTimeoutMs): Promise<ModuleReadiness> => {
      const entries = await Promise.all(
        [...modules.values()].map(async ({ id, handle }): Promise<[string, ModuleReadiness[string]]> => {
          try {
            await waitModule(id, handle, timeoutMs);
            return [id, 'ready'];
          } catch (error) {
            const first = (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
            const last = handle
              .output()
              .trim()
              .split('\n')
              .slice(-2)
              .map((l) => l.slice(0, 300))
              .join(' | ');
            return [id, `not ready: ${first.replace(readyLinePattern.source, 'ready')} — last output: ${last}`];
          }
        }),
      );
      return Object.fromEntries(entries);
    };

    const ended = (id: string): ChildHandle => {
      const proc = modules.get(id);
      if (proc === undefined) throw new Error(`module ${id} was not started`);
      return proc.handle;
    };

    let stopped: Promise<void> | undefined;
    return {
      host: options.host,
      dataDir,
      controlUrl,
      control,
      plantUrl,
      diagUrl,
      hub,
      plant,
      azure,
      modules,
      admin,
      consoleUrl,
      waitReady,
      startModule,
      async restart(id, timeoutMs = readyTimeoutMs) {
        const proc = startModule(id);
        await waitModule(id, proc.handle, timeoutMs);
        return proc;
      },
      async killModule(id) {
        await ended(id).kill();
      },
      async stopModule(id) {
        await ended(id).stop(10_000);
      },
      stop() {
        stopped ??= (async () => {
          await stopAll();
          await temp?.remove();
        })();
        return stopped;
      },
    };
  } catch (error) {
    await stopAll();
    await temp?.remove();
    throw error;
  }
}
