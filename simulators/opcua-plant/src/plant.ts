/**
 * Starts a whole plant in-process: the runtime (physics on a simulated clock), the OPC UA server and,
 * optionally, the loopback diagnostics endpoint. `main.ts` wraps this for the command line; tests
 * and `npm start` may call it directly.
 *
 * @example
 *   const plant = await startPlant({ port: 0, speedFactor: 200, pkiDir: dir.join('pki') });
 *   // … connect a client to plant.endpointUrl …
 *   await plant.close();
 */
import { type Logger, silentLogger } from '@takt/edge-kit';
import { DEFAULT_LAYOUT_FILE, type ResolvedLayout, loadLayout } from './layout/layout.js';
import { PlantServer, type PlantUser, type SecurityModeName } from './opcua/plant-server.js';
import { type DiagnosticsServer, startDiagnostics } from './runtime/diagnostics-http.js';
import { PlantRuntime } from './runtime/plant-runtime.js';

export interface StartPlantOptions {
  /** A resolved layout or a layout file path. Default: the shipped batch plant. */
  layout?: ResolvedLayout | string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 4840; 0 = any free port. */
  port?: number;
  /** Default 1. */
  speedFactor?: number;
  /** Default 100 (real ms). */
  tickMs?: number;
  /** The fastest publishing interval the server grants. Default 10 ms (node-opcua's own default is 50). */
  minPublishingIntervalMs?: number;
  seed?: number;
  /** Certificate folder. Required: never defaults to $HOME. */
  pkiDir: string;
  securityModes?: readonly SecurityModeName[];
  allowAnonymous?: boolean;
  users?: readonly PlantUser[];
  /** Loopback HTTP diagnostics port (0 = any free port); omitted = off. */
  diagPort?: number;
  logger?: Logger;
}

export interface RunningPlant {
  readonly endpointUrl: string;
  readonly port: number;
  readonly runtime: PlantRuntime;
  readonly server: PlantServer;
  readonly diagnosticsUrl: string | undefined;
  /** Stops everything (idempotent). */
  close(): Promise<void>;
}

export async function startPlant(options: StartPlantOptions): Promise<RunningPlant> {
  const logger = options.logger ?? silentLogger;
  const layout =
    typeof options.layout === 'object' ? options.layout : await loadLayout(options.layout ?? DEFAULT_LAYOUT_FILE);
  const runtime = new PlantRuntime({
    layout,
    speedFactor: options.speedFactor ?? 1,
    tickMs: options.tickMs ?? 100,
    seed: options.seed ?? 1,
    logger: logger.child({ component: 'plc' }),
  });
  runtime.start();
  let server: PlantServer;
  try {
    server = await PlantServer.start({
      runtime,
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 4840,
      pkiDir: options.pkiDir,
      ...(options.minPublishingIntervalMs === undefined
        ? {}
        : { minPublishingIntervalMs: options.minPublishingIntervalMs }),
      ...(options.securityModes ? { securityModes: options.securityModes } : {}),
      allowAnonymous: options.allowAnonymous ?? true,
      users: options.users ?? [],
      logger: logger.child({ component: 'opcua-server' }),
    });
  } catch (error) {
    runtime.close();
    throw error;
  }
  let diagnostics: DiagnosticsServer | undefined;
  if (options.diagPort !== undefined) {
    try {
      diagnostics = await startDiagnostics({
        runtime,
        port: options.diagPort,
        health: () => ({ opcua: server.running, sessions: server.sessionCount(), restarts: server.restarts }),
      });
    } catch (error) {
      await server.close();
      runtime.close();
      throw error;
    }
  }
  let closing: Promise<void> | undefined;
  return {
    get endpointUrl() {
      return server.endpointUrl;
    },
    get port() {
      return server.port;
    },
    runtime,
    server,
    diagnosticsUrl: diagnostics?.url,
    close() {
      closing ??= (async () => {
        await diagnostics?.close();
        await server.close();
        runtime.close();
      })();
      return closing;
    },
  };
}
