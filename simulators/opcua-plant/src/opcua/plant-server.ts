/**
 * The OPC UA server around the plant runtime: security modes and policies, users, the certificate
 * folder, and the two server-level faults — dropping every session, and a real in-process restart
 * (shutdown, downtime, a new server on the same port; the plant keeps running meanwhile).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from '@takt/edge-kit';
import type { OPCUACertificateManager } from 'node-opcua-certificate-manager';
import type { OPCUAServer } from 'node-opcua-server';
import { PlantError } from '../errors.js';
import type { PlantRuntime } from '../runtime/plant-runtime.js';
import { PLANT_NAMESPACE_URI, bindPlantAddressSpace } from './address-space.js';
import { type ServerLibraries, loadServerLibraries } from './node-opcua.js';

export const SECURITY_MODES = ['None', 'Sign', 'SignAndEncrypt'] as const;

/** The fastest publishing interval the simulator grants unless told otherwise (node-opcua's own is 50 ms). */
export const DEFAULT_MIN_PUBLISHING_INTERVAL_MS = 10;
export type SecurityModeName = (typeof SECURITY_MODES)[number];

export interface PlantUser {
  readonly username: string;
  readonly password: string;
}

export interface PlantServerOptions {
  runtime: PlantRuntime;
  /** Address to bind and to advertise in endpoint URLs. Default 127.0.0.1. */
  host?: string;
  /** TCP port; 0 picks a free one (kept across restarts). Default 4840. */
  port?: number;
  /** Certificate folder (server and user PKI below it). Never defaults to $HOME. */
  pkiDir: string;
  /** Default None, Sign and SignAndEncrypt (signed modes use Basic256Sha256). */
  securityModes?: readonly SecurityModeName[];
  /** Default true. */
  allowAnonymous?: boolean;
  users?: readonly PlantUser[];
  /**
   * The fastest publishing interval granted to a subscription (ms). Default 10. node-opcua keeps this in
   * a static (`Subscription.minimumPublishingInterval`, 50 ms unless changed), so it applies to every
   * server in the process; the simulator runs one.
   */
  minPublishingIntervalMs?: number;
  logger: Logger;
}

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

export class PlantServer {
  private readonly options: PlantServerOptions;
  private readonly logger: Logger;
  private libs: ServerLibraries | undefined;
  private server: OPCUAServer | undefined;
  private managers: OPCUACertificateManager[] = [];
  private unbind: (() => void) | undefined;
  private boundPort: number;
  private restarting: Promise<void> | undefined;
  private closed = false;
  private restartCount = 0;

  private constructor(options: PlantServerOptions) {
    this.options = options;
    this.logger = options.logger;
    this.boundPort = options.port ?? 4840;
  }

  /** Creates and starts the server. Throws `PLANT_SERVER_START_FAILED`. */
  static async start(options: PlantServerOptions): Promise<PlantServer> {
    const server = new PlantServer(options);
    await server.startServer();
    return server;
  }

  get host(): string {
    return this.options.host ?? '127.0.0.1';
  }

  get port(): number {
    return this.boundPort;
  }

  /** `opc.tcp://HOST:PORT` — the endpoint URL clients connect to. */
  get endpointUrl(): string {
    const host = this.host === '0.0.0.0' || this.host === '::' ? 'localhost' : this.host;
    return `opc.tcp://${host.includes(':') ? `[${host}]` : host}:${this.boundPort}`;
  }

  /** Number of in-process restarts so far. */
  get restarts(): number {
    return this.restartCount;
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  sessionCount(): number {
    return this.server?.engine.currentSessionCount ?? 0;
  }

  /** Closes every session (subscriptions deleted) and drops every client socket. */
  dropSessions(): void {
    const server = this.server;
    if (!server) return;
    const sessions = server.engine.getSessions();
    for (const session of sessions) server.engine.closeSession(session.authenticationToken, true, 'Forcing');
    for (const endpoint of server.endpoints) endpoint.abruptlyInterruptChannels();
    this.logger.warn('dropped all sessions', { sessions: sessions.length });
  }

  /** Stops the OPC UA server, waits `downtimeMs`, starts a new one on the same port. Overlapping calls share one restart. */
  restart(downtimeMs: number): Promise<void> {
    this.restarting ??= (async () => {
      try {
        this.logger.warn('server restarting', { downtimeMs, port: this.boundPort });
        await this.stopServer();
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, downtimeMs)));
        if (this.closed) return;
        await this.startServer();
        this.restartCount += 1;
        this.logger.info('server restarted', { endpointUrl: this.endpointUrl, restarts: this.restartCount });
      } finally {
        this.restarting = undefined;
      }
    })();
    return this.restarting;
  }

  /** Stops the server for good (idempotent). */
  async close(): Promise<void> {
    this.closed = true;
    await this.restarting?.catch(() => undefined);
    await this.stopServer();
  }

  private async startServer(): Promise<void> {
    const libs = (this.libs ??= await loadServerLibraries());
    libs.server.Subscription.minimumPublishingInterval =
      this.options.minPublishingIntervalMs ?? DEFAULT_MIN_PUBLISHING_INTERVAL_MS;
    const { MessageSecurityMode, SecurityPolicy } = libs.secureChannel;
    const modes = this.options.securityModes ?? SECURITY_MODES;
    const users = this.options.users ?? [];
    const serverManager = new libs.certificates.OPCUACertificateManager({
      rootFolder: join(this.options.pkiDir, 'server'),
      automaticallyAcceptUnknownCertificate: true,
    });
    const userManager = new libs.certificates.OPCUACertificateManager({
      rootFolder: join(this.options.pkiDir, 'user'),
      automaticallyAcceptUnknownCertificate: true,
    });
    this.managers = [serverManager, userManager];
    const policies = [
      ...(modes.includes('None') ? [SecurityPolicy.None] : []),
      ...(modes.some((m) => m !== 'None') ? [SecurityPolicy.Basic256Sha256] : []),
    ];
    const server = new libs.server.OPCUAServer({
      port: this.boundPort,
      host: this.host,
      hostname: this.host === '0.0.0.0' || this.host === '::' ? 'localhost' : this.host,
      alternateHostname: ['localhost', '127.0.0.1'],
      serverCertificateManager: serverManager,
      userCertificateManager: userManager,
      serverInfo: {
        applicationUri: PLANT_NAMESPACE_URI,
        productUri: 'urn:takt:sim-opcua-plant',
        applicationName: { text: 'Takt OPC UA plant simulator', locale: 'en' },
      },
      buildInfo: { productName: 'Takt OPC UA plant simulator', manufacturerName: 'Takt', softwareVersion: '0.1.0' },
      securityModes: modes.map((m) => MessageSecurityMode[m]),
      securityPolicies: policies,
      allowAnonymous: this.options.allowAnonymous ?? true,
      userManager: {
        isValidUser: (username: string, password: string): boolean => {
          const user = users.find((u) => u.username === username);
          // compare digests so the time taken does not depend on where the password differs
          return user !== undefined && timingSafeEqual(digest(user.password), digest(password));
        },
      },
      serverCapabilities: { minSupportedSampleRate: 0, maxSessions: 50 },
    });
    try {
      await server.initialize();
      this.unbind = bindPlantAddressSpace({
        server,
        runtime: this.options.runtime,
        libs,
        logger: this.logger.child({ component: 'address-space' }),
        actions: {
          dropSessions: () => this.dropSessions(),
          restart: (downtimeMs) => {
            this.restart(downtimeMs).catch((error: unknown) => {
              this.logger.error('server restart failed', { error });
            });
          },
        },
      });
      await server.start();
    } catch (error) {
      this.unbind?.();
      this.unbind = undefined;
      await server.shutdown(0).catch(() => undefined);
      throw new PlantError(
        'PLANT_SERVER_START_FAILED',
        `OPC UA server did not start on ${this.host}:${this.boundPort}`,
        {
          cause: error,
          details: { host: this.host, port: this.boundPort, pkiDir: this.options.pkiDir },
        },
      );
    }
    const port = server.endpoints[0]?.port;
    if (typeof port === 'number' && port > 0) this.boundPort = port;
    this.server = server;
  }

  private async stopServer(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.unbind?.();
    this.unbind = undefined;
    if (server) await server.shutdown(0);
    const managers = this.managers;
    this.managers = [];
    for (const manager of managers) await manager.dispose();
  }
}
