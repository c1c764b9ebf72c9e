/**
 * The edge adapter: opens the data folder (SQLite outbox, PKI), builds the connector and wires it
 * to the SupervisedModuleClient (direct methods, twin properties with Plug and Play acks, outputs
 * `telemetry`, `tags`, `audit` from the durable outbox, health in reported properties).
 */
import { join } from 'node:path';
import {
  type BindResult,
  type Logger,
  Outbox,
  type SqliteDatabase,
  SupervisedModuleClient,
  type SupervisedModuleClientOptions,
  openDatabase,
} from '@takt/edge-kit';
import type { OPCUACertificateManager } from 'node-opcua-certificate-manager';
import type { PublishedNodesEntry } from '../config/published-nodes.js';
import { DEFAULT_SETTINGS, type Settings } from '../config/settings.js';
import { OpcuaConnector } from '../connector.js';
import { loadOpcua, routeNodeOpcuaLogs } from '../opcua/node-opcua.js';
import { connectorMethods } from './methods.js';
import { endpointsProperty, publishedNodesProperty, settingsProperty } from './twin.js';

export interface ConnectorModuleOptions {
  logger: Logger;
  dataDir: string;
  /** Default `<dataDir>/publishednodes.json`. */
  publishedNodesFile?: string;
  applicationName?: string;
  publisherId?: string;
  /** Overrides the twin's `settings.autoAcceptUntrustedCertificates` when set (environment). */
  autoAcceptUntrustedCertificates?: boolean;
  secret: (name: string) => string | undefined;
  /** Test hook: how the SDK client is built (default `ModuleClient.fromEnvironment`). */
  createClient?: SupervisedModuleClientOptions['createClient'];
  reconnectInitialDelayMs?: number;
  reconnectMaxDelayMs?: number;
}

export interface ConnectorModule {
  readonly connector: OpcuaConnector;
  readonly edge: SupervisedModuleClient;
  readonly certificateManager: OPCUACertificateManager;
  close(): Promise<void>;
}

/** Starts the module; resolves once edgeHub is connected and the twin applied. */
export async function startConnectorModule(options: ConnectorModuleOptions): Promise<ConnectorModule> {
  const logger = options.logger;
  const opcuaLogger = logger.child({ component: 'node-opcua' });
  routeNodeOpcuaLogs((level, text) => (level === 'warn' ? opcuaLogger.debug(text) : opcuaLogger.warn(text)));
  const libs = await loadOpcua();
  const certificateManager = new libs.certificates.OPCUACertificateManager({
    rootFolder: join(options.dataDir, 'pki'),
    automaticallyAcceptUnknownCertificate: options.autoAcceptUntrustedCertificates ?? false,
  });
  await certificateManager.initialize();
  // NORMAL: telemetry commits are not fsync'd (like OPC Publisher, which keeps telemetry in memory);
  // audit records and watched values switch to FULL for their own commits (see OpcuaConnector.durably)
  const db: SqliteDatabase = openDatabase(join(options.dataDir, 'opcua-connector.db'), { synchronous: 'NORMAL' });
  const outbox = new Outbox(db);
  const applicationName = options.applicationName ?? 'takt-opcua-connector';
  const connector = new OpcuaConnector({
    logger,
    libs,
    certificateManager,
    db,
    outbox,
    settings: DEFAULT_SETTINGS,
    applicationName,
    publisherId: options.publisherId ?? applicationName,
    publishedNodesFile: options.publishedNodesFile ?? join(options.dataDir, 'publishednodes.json'),
    secret: options.secret,
    report: async (patch) => {
      if (edge.state === 'connected') await edge.reportProperties(patch);
    },
  });
  let settings: Settings = DEFAULT_SETTINGS;
  const commandEndpoints = new Map<string, PublishedNodesEntry>();
  const onChange = (result: BindResult) => {
    let endpointsChanged = false;
    for (const removed of result.removed) {
      if (removed.property === 'settings') settings = DEFAULT_SETTINGS;
      if (removed.property === 'publishedNodes') connector.setTwinEntries([]);
      if (removed.property === 'endpoints' && removed.key !== undefined) {
        commandEndpoints.delete(removed.key);
        endpointsChanged = true;
      }
    }
    for (const change of result.accepted) {
      if (change.property === 'settings') settings = change.value as Settings;
      if (change.property === 'publishedNodes') connector.setTwinEntries(change.value as PublishedNodesEntry[]);
      if (change.property === 'endpoints' && change.key !== undefined) {
        commandEndpoints.set(change.key, change.value as PublishedNodesEntry);
        endpointsChanged = true;
      }
    }
    const effective =
      options.autoAcceptUntrustedCertificates === undefined
        ? settings
        : { ...settings, autoAcceptUntrustedCertificates: options.autoAcceptUntrustedCertificates };
    connector.applySettings(effective);
    if (endpointsChanged) connector.setCommandEndpoints(commandEndpoints);
    connector.markTwinApplied();
  };
  const edge = new SupervisedModuleClient({
    logger,
    outbox,
    methods: connectorMethods(connector),
    twin: { properties: [settingsProperty, publishedNodesProperty, endpointsProperty], onChange },
    sendBatchSize: 20,
    ...(options.createClient ? { createClient: options.createClient } : {}),
    ...(options.reconnectInitialDelayMs === undefined
      ? {}
      : { reconnectInitialDelayMs: options.reconnectInitialDelayMs }),
    ...(options.reconnectMaxDelayMs === undefined ? {} : { reconnectMaxDelayMs: options.reconnectMaxDelayMs }),
  });
  connector.start();
  try {
    await edge.start();
  } catch (error) {
    await connector.close();
    db.close();
    throw error;
  }
  let closing: Promise<void> | undefined;
  const module: ConnectorModule = {
    connector,
    edge,
    certificateManager,
    close() {
      closing ??= (async () => {
        await connector.close();
        await edge.close();
        await certificateManager.dispose().catch(() => undefined);
        db.close();
      })();
      return closing;
    },
  };
  return module;
}
