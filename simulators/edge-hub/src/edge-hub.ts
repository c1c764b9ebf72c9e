import { join } from 'node:path';
import { type Logger, silentLogger } from '@takt/edge-kit';
import { ensureCertificates } from './certs.js';
import { EdgeHubControlClient } from './control/control-client.js';
import { ControlServer } from './control/control-server.js';
import type { EnvMode, ModuleEnvironment } from './control/control-types.js';
import { EdgeHubError } from './errors.js';
import { IotHubApi } from './http/iothub-api.js';
import { WorkloadApi } from './http/workload-api.js';
import { Hub } from './hub.js';
import { IdentityRegistry, SERVICE_POLICY } from './identity/registry.js';
import { type Deployment, parseDeployment, readDeploymentFile } from './manifest/deployment.js';
import { MqttFrontEnd } from './mqtt/broker.js';
import { GroupCommit, openEmulatorDatabase } from './store/database.js';
import { MessageQueue } from './store/message-queue.js';
import { TwinStore } from './twin/twin-store.js';

/** Options of {@link startEdgeHub}. */
export interface EdgeHubOptions {
  /** Folder for the SQLite store, certificates and the workload socket; created if missing. */
  dataDir: string;
  /**
   * The deployment: a path to a rendered manifest or a `deployment.template.json`, a parsed document,
   * or an already parsed {@link Deployment}. Default: no routes, no modules.
   */
  manifest?: string | Deployment | Record<string, unknown>;
  /** Address for MQTT, HTTPS and (by default) the control API. Default `127.0.0.1`. */
  host?: string;
  /** MQTT/TLS port. Default 8883 (the SDK's fixed port). */
  mqttPort?: number;
  /** HTTPS port. Default 443 (the SDK's fixed port for module-to-module methods). */
  httpsPort?: number;
  /** Control API port; default 0 (any free port). */
  controlPort?: number;
  /** Control API address; default `host`. */
  controlHost?: string;
  /** Workload API: a unix socket (default `<dataDir>/workload.sock`), a loopback TCP port, or off. */
  workload?: { socketPath: string } | { port: number } | false;
  /** Edge device id. Default `takt-edge`. */
  deviceId?: string;
  /** IoT Hub host name in SAS tokens and `IOTEDGE_IOTHUBHOSTNAME`; never resolved. Default `takt-local.azure-devices.net`. */
  hubHostName?: string;
  /** Extra module identities to create besides the manifest's modules. */
  modules?: readonly string[];
  logger?: Logger;
  /** QoS 1 messages in flight per module input. Default 100. */
  deliveryWindow?: number;
  /** How often expired messages are deleted (edgeHub: 1800 s). Default 30,000 ms. */
  cleanupIntervalMs?: number;
  /** Default 5,000 ms. */
  closeTimeoutMs?: number;
  /** Clock for message enqueue and expiry times (tests move it to expire messages). Default `Date.now`. */
  clock?: () => number;
}

/** A running emulator. */
export interface EdgeHubHandle {
  readonly host: string;
  readonly deviceId: string;
  readonly hubHostName: string;
  readonly mqttUrl: string;
  readonly httpsUrl: string;
  readonly controlUrl: string;
  /** `IOTEDGE_WORKLOADURI` value, or undefined when the workload API is off. */
  readonly workloadUri: string | undefined;
  readonly caCertPem: string;
  /** For `EdgeModuleCACertificateFile`. */
  readonly caCertPath: string;
  /** Service-side connection string (`iothubowner`); HostName is the emulator's address so azure-iothub reaches it. */
  readonly serviceConnectionString: string;
  /** `edge-hub ready mqtts://… https://… control=http://… workload=…` */
  readonly readyLine: string;
  readonly control: EdgeHubControlClient;
  /** Creates a module identity if missing. */
  ensureModule(moduleId: string): void;
  moduleIds(): string[];
  /** `HostName=…;DeviceId=…;ModuleId=…;SharedAccessKey=…;GatewayHostName=<host>` */
  connectionString(moduleId: string): string;
  /** Environment for a module process (`ModuleClient.fromEnvironment`). */
  moduleEnv(moduleId: string, mode?: EnvMode): Record<string, string>;
  /** Closes every listener and the store; idempotent. */
  close(): Promise<void>;
}

function resolveDeployment(manifest: EdgeHubOptions['manifest']): Deployment {
  if (manifest === undefined) return { modules: [], routes: [], defaultTtlSecs: 7200 };
  if (typeof manifest === 'string') return readDeploymentFile(manifest);
  if ('routes' in manifest && Array.isArray(manifest['routes'])) return manifest as unknown as Deployment;
  return parseDeployment(manifest);
}

const MODULE_ID = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * Starts the IoT Hub + edgeHub emulator in this process.
 *
 * @example
 * const hub = await startEdgeHub({ dataDir, manifest: 'deployment/deployment.template.json', host: '127.0.0.2' });
 * const env = hub.moduleEnv('orchestrator');          // EdgeHubConnectionString + EdgeModuleCACertificateFile
 * await hub.control.setOnline(false);
 * await hub.close();
 */
export async function startEdgeHub(options: EdgeHubOptions): Promise<EdgeHubHandle> {
  const log = options.logger ?? silentLogger;
  const host = options.host ?? '127.0.0.1';
  const deviceId = options.deviceId ?? 'takt-edge';
  const hubHostName = options.hubHostName ?? 'takt-local.azure-devices.net';
  for (const [name, port] of [
    ['mqttPort', options.mqttPort],
    ['httpsPort', options.httpsPort],
    ['controlPort', options.controlPort],
  ] as const) {
    if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
      throw new EdgeHubError('EDGEHUB_CONFIG_INVALID', `${name} must be a port number, got ${port}`);
    }
  }
  const deployment = resolveDeployment(options.manifest);
  const certs = ensureCertificates(join(options.dataDir, 'certs'), [host, '127.0.0.1', 'localhost']);
  const db = openEmulatorDatabase(join(options.dataDir, 'edge-hub.db'));
  const identities = new IdentityRegistry(db);
  const twins = new TwinStore(db);
  const group = new GroupCommit(db);
  const queue = new MessageQueue(db, group);
  const ensureModule = (moduleId: string): void => {
    if (!MODULE_ID.test(moduleId)) throw new EdgeHubError('EDGEHUB_CONFIG_INVALID', `invalid module id ${moduleId}`);
    identities.ensure(moduleId);
    twins.get(moduleId);
  };
  for (const module of deployment.modules) ensureModule(module.moduleId);
  for (const moduleId of options.modules ?? []) ensureModule(moduleId);
  for (const module of deployment.modules)
    if (module.desired !== undefined) twins.seedDesired(module.moduleId, module.desired);

  const hub = new Hub({
    deviceId,
    hubHostName,
    routes: deployment.routes,
    defaultTtlSecs: deployment.defaultTtlSecs,
    identities,
    twins,
    queue,
    group,
    logger: log.child({ component: 'hub' }),
    ...(options.deliveryWindow === undefined ? {} : { deliveryWindow: options.deliveryWindow }),
    ...(options.clock === undefined ? {} : { now: options.clock }),
  });

  const closers: (() => Promise<void>)[] = [];
  const closeAll = async (): Promise<void> => {
    hub.close();
    for (const close of closers.reverse()) await close().catch(() => undefined);
    group.commit();
    db.close();
  };
  try {
    const mqtt = await MqttFrontEnd.create({
      host,
      port: options.mqttPort ?? 8883,
      tls: { cert: certs.serverCertPem, key: certs.serverKeyPem },
      logger: log.child({ component: 'mqtt' }),
      handlers: hub,
    });
    closers.push(() => mqtt.close());
    const https = await IotHubApi.start({
      host,
      port: options.httpsPort ?? 443,
      tls: { cert: certs.serverCertPem, key: certs.serverKeyPem },
      hub,
      identities,
      twins,
      logger: log.child({ component: 'https' }),
    });
    closers.push(() => https.close());
    let workload: WorkloadApi | undefined;
    if (options.workload !== false) {
      const listen =
        options.workload === undefined
          ? { socketPath: join(options.dataDir, 'workload.sock') }
          : 'socketPath' in options.workload
            ? { socketPath: options.workload.socketPath }
            : { host, port: options.workload.port };
      workload = await WorkloadApi.start({
        listen,
        identities,
        caCertPem: certs.caCertPem,
        logger: log.child({ component: 'workload' }),
      });
      const api = workload;
      closers.push(() => api.close());
    }
    const moduleEnvironment = (moduleId: string, mode: EnvMode = 'connection-string'): Record<string, string> => {
      const identity = identities.get(moduleId);
      if (identity === undefined) throw new EdgeHubError('MODULE_UNKNOWN', `no module identity ${moduleId}`);
      if (mode === 'workload') {
        if (workload === undefined) throw new EdgeHubError('EDGEHUB_CONFIG_INVALID', 'the workload API is off');
        return {
          IOTEDGE_WORKLOADURI: workload.uri,
          IOTEDGE_DEVICEID: deviceId,
          IOTEDGE_MODULEID: moduleId,
          IOTEDGE_IOTHUBHOSTNAME: hubHostName,
          IOTEDGE_GATEWAYHOSTNAME: host,
          IOTEDGE_AUTHSCHEME: 'sasToken',
          IOTEDGE_MODULEGENERATIONID: identity.generationId,
          IOTEDGE_APIVERSION: '2018-06-28',
        };
      }
      return {
        EdgeHubConnectionString: `HostName=${hubHostName};DeviceId=${deviceId};ModuleId=${moduleId};SharedAccessKey=${identity.primaryKey};GatewayHostName=${host}`,
        EdgeModuleCACertificateFile: certs.caCertPath,
      };
    };
    let frozen = false;
    const control = await ControlServer.start({
      host: options.controlHost ?? host,
      port: options.controlPort ?? 0,
      logger: log.child({ component: 'control' }),
      target: {
        hub,
        queue,
        twins,
        moduleIds: () => identities.list().map((i) => i.moduleId),
        ensureModule,
        moduleEnvironment: (moduleId: string, mode: EnvMode): ModuleEnvironment => ({
          moduleId,
          env: moduleEnvironment(moduleId, mode),
        }),
        dropConnections: () => mqtt.dropAll() + https.gate.dropAll(),
        freeze: () => {
          frozen = true;
          hub.setFrozen(true);
          mqtt.freeze();
          https.freeze();
        },
        thaw: () => {
          if (!frozen) return;
          frozen = false;
          mqtt.thaw();
          https.thaw();
          hub.setFrozen(false);
        },
      },
    });
    closers.push(() => control.close());
    const cleanup = setInterval(() => {
      const purged = hub.purgeExpired();
      if (purged > 0) log.info('expired messages deleted', { purged });
    }, options.cleanupIntervalMs ?? 30_000);
    cleanup.unref();
    closers.push(() => {
      clearInterval(cleanup);
      return Promise.resolve();
    });

    const mqttUrl = `mqtts://${host}:${mqtt.port}`;
    const httpsUrl = `https://${host}:${https.port}`;
    const readyLine = `edge-hub ready ${mqttUrl} ${httpsUrl} control=${control.url} workload=${workload?.uri ?? 'off'}`;
    let closing: Promise<void> | undefined;
    const closeTimeoutMs = options.closeTimeoutMs ?? 5_000;
    return {
      host,
      deviceId,
      hubHostName,
      mqttUrl,
      httpsUrl,
      controlUrl: control.url,
      workloadUri: workload?.uri,
      caCertPem: certs.caCertPem,
      caCertPath: certs.caCertPath,
      serviceConnectionString: `HostName=${host};SharedAccessKeyName=${SERVICE_POLICY};SharedAccessKey=${identities.servicePolicyKey}`,
      readyLine,
      control: new EdgeHubControlClient(control.url),
      ensureModule,
      moduleIds: () => identities.list().map((i) => i.moduleId),
      connectionString: (moduleId) => moduleEnvironment(moduleId)['EdgeHubConnectionString'] ?? '',
      moduleEnv: moduleEnvironment,
      close: () => {
        closing ??= (async () => {
          let timer: NodeJS.Timeout | undefined;
          const timeout = new Promise<never>((_resolve, reject) => {
            timer = setTimeout(
              () => reject(new EdgeHubError('CLOSE_TIMEOUT', `edge-hub did not close within ${closeTimeoutMs} ms`)),
              closeTimeoutMs,
            );
          });
          try {
            await Promise.race([closeAll(), timeout]);
          } finally {
            clearTimeout(timer);
          }
        })();
        return closing;
      },
    };
  } catch (error) {
    await closeAll();
    if (error instanceof EdgeHubError) throw error;
    const code = (error as { code?: unknown }).code;
    throw new EdgeHubError('EDGEHUB_START_FAILED', `edge-hub could not start on ${host}: ${String(code ?? error)}`, {
      cause: error,
    });
  }
}
