/**
 * One OPC UA endpoint, supervised: a state machine `idle → connecting → connected → reconnecting →
 * connected … → closed` that owns the node-opcua client, the session, every subscription and every
 * monitored item of the endpoint.
 *
 * node-opcua's own reconnection is switched off (`maxRetry: 0`): after a lost connection, a failed
 * keep-alive, a terminated subscription or a stalled one (watchdog: no notification and no keep-alive
 * for three keep-alive periods) the whole client is thrown away and rebuilt — new secure channel, new
 * session, namespace table read again, every subscription and monitored item created again — with
 * exponential backoff. That is deliberate: OPC Publisher's most reported failure is a session that is
 * "connected" while nothing is published any more (Azure/Industrial-IoT #40, #2055, #912, #1890).
 * Every outage after a first connection is reported as a gap (how long, how many samples could not
 * be taken).
 */
import { EventEmitter } from 'node:events';
import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CircuitBreaker,
  type Logger,
  backoffDelayMs,
  errorMessage,
  isCodedError,
  sleep,
  withTimeout,
} from '@takt/edge-kit';
import type { OPCUACertificateManager } from 'node-opcua-certificate-manager';
import type {
  ClientMonitoredItemGroup,
  ClientSession,
  ClientSubscription,
  DataValue,
  EndpointDescription,
  NodeId,
  OPCUAClient,
} from 'node-opcua-client';
import type { EndpointSpec } from '../config/published-nodes.js';
import { valueToJson } from '../encoding/variant-json.js';
import { ConnectorError } from '../errors.js';
import type { OpcuaLibraries } from './node-opcua.js';
import { translateError } from './status.js';

/** One monitored item the endpoint must keep alive. */
export interface ItemSpec {
  /** Unique per endpoint. */
  key: string;
  kind: 'publish' | 'watch';
  /** `nsu=<uri>;…` or `ns=<index>;…` or `i=…`. */
  nodeId: string;
  samplingIntervalMs: number;
  publishingIntervalMs: number;
  queueSize: number;
  discardOldest: boolean;
  trigger?: 'Status' | 'StatusValue' | 'StatusValueTimestamp' | undefined;
  deadband?: { type: 'Absolute' | 'Percent'; value: number } | undefined;
}

/** One notification, JSON-ready. */
export interface ItemValue {
  value: unknown;
  dataType: number | undefined;
  sourceTimestamp: Date | undefined;
  serverTimestamp: Date | undefined;
  statusCode: number;
  statusName: string;
}

export interface GapReport {
  endpointUrl: string;
  from: string;
  to: string;
  durationMs: number;
  monitoredItems: number;
  /** Σ over items of gap / max(sampling interval, publishing interval): samples that could not be taken. */
  estimatedMissedSamples: number;
  reason: string;
}

export type EndpointState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closed';

export interface EndpointHealth {
  endpointUrl: string;
  state: EndpointState;
  connected: boolean;
  sessionState: 'none' | 'active';
  securityMode: string | undefined;
  securityPolicy: string | undefined;
  monitoredItems: number;
  monitoredItemsFailed: number;
  failedNodes: { nodeId: string; statusCode: string }[];
  connects: number;
  connectionRetries: number;
  watchdogRebuilds: number;
  lastError: { code: string; message: string; at: string } | undefined;
  lastGap: GapReport | undefined;
  circuit: string;
}

export interface EndpointSessionOptions {
  spec: EndpointSpec;
  libs: OpcuaLibraries;
  certificateManager: OPCUACertificateManager;
  applicationName: string;
  applicationUri: string;
  logger: Logger;
  /** Resolves the user password from its secret (never logged). */
  password: () => string | undefined;
  onValue: (spec: ItemSpec, value: ItemValue) => void;
  onGap?: (gap: GapReport) => void;
  /** Called when state/health changed in a way worth reporting. */
  onHealth?: () => void;
  reconnectInitialDelayMs?: number;
  reconnectMaxDelayMs?: number;
  /** Per service call. Default 10,000. */
  operationTimeoutMs?: number;
  /** How long a command waits for a session that is (re)connecting. Default 3,000. */
  commandWaitMs?: number;
  keepAliveIntervalMs?: number;
  requestedSessionTimeoutMs?: number;
  breakerFailureThreshold?: number;
  breakerOpenMs?: number;
  /** Monitored items per CreateMonitoredItems call. Default 1,000. */
  monitorChunkSize?: number;
  now?: () => number;
}

interface LiveSubscription {
  id: string;
  kind: 'publish' | 'watch';
  publishingIntervalMs: number;
  subscription: ClientSubscription;
  keepAlivePeriodMs: number;
  lastActivity: number;
  /** Publish items only: the keys it was built with. */
  keys: Set<string>;
  groups: ClientMonitoredItemGroup[];
}

interface Live {
  client: OPCUAClient;
  session: ClientSession;
  namespaces: string[];
  subscriptions: Map<string, LiveSubscription>;
  /** Watch key → its one-item group. */
  watchGroups: Map<string, ClientMonitoredItemGroup>;
  lost: Promise<string>;
  markLost: (reason: string) => void;
}

/**
 * After a refused certificate: an operator may have moved it to `trusted/certs` meanwhile. A connection
 * attempt still in flight can write it to `rejected/` again, and node-opcua-pki checks `rejected/`
 * first — so a certificate that is in both is taken out of `rejected/` (the operator's trust wins).
 * Then the folders are re-read instead of relying on file-system events (not delivered on every
 * container volume).
 */
export async function refreshTrust(manager: OPCUACertificateManager, logger: Logger): Promise<void> {
  try {
    const trusted = new Set(await readdir(manager.trustedFolder).catch(() => [] as string[]));
    for (const file of await readdir(manager.rejectedFolder).catch(() => [] as string[])) {
      if (trusted.has(file)) await unlink(join(manager.rejectedFolder, file)).catch(() => undefined);
    }
    await manager.reloadCertificates();
  } catch (error) {
    logger.debug('could not re-read the PKI folders', { error });
  }
}

const SECURITY_RANK: Readonly<Record<string, number>> = { SignAndEncrypt: 3, Sign: 2, None: 1 };
const POLICY_PREFERENCE = ['Aes256_Sha256_RsaPss', 'Basic256Sha256', 'Aes128_Sha256_RsaOaep', 'Basic256'];

/**
 * Picks the endpoint to use (pure): the requested mode (`Best`: SignAndEncrypt if offered, then
 * Sign, then None) and policy (default: the strongest offered).
 */
export function chooseEndpoint(
  offered: readonly { securityMode: string; securityPolicy: string }[],
  mode: EndpointSpec['securityMode'],
  policy: string | undefined,
): { securityMode: string; securityPolicy: string } | undefined {
  const candidates = offered
    .filter((e) => (mode === 'Best' ? true : e.securityMode === mode))
    .filter((e) => policy === undefined || e.securityPolicy === policy || e.securityMode === 'None')
    .filter((e) => e.securityMode === 'None' || POLICY_PREFERENCE.includes(e.securityPolicy));
  candidates.sort((a, b) => {
    const byMode = (SECURITY_RANK[b.securityMode] ?? 0) - (SECURITY_RANK[a.securityMode] ?? 0);
    if (byMode !== 0) return byMode;
    const rank = (p: string) => {
      const i = POLICY_PREFERENCE.indexOf(p);
      return i < 0 ? 99 : i;
    };
    return rank(a.securityPolicy) - rank(b.securityPolicy);
  });
  return candidates[0];
}

const POLICY_URI_PREFIX = 'http://opcfoundation.org/UA/SecurityPolicy#';

export interface EndpointSessionEvents {
  state: [EndpointState];
  gap: [GapReport];
}

/** A supervised OPC UA endpoint. `start()` returns at once; `close()` is idempotent. */
export class EndpointSession extends EventEmitter<EndpointSessionEvents> {
  readonly spec: EndpointSpec;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly timeoutMs: number;
  private readonly breaker: CircuitBreaker;
  private readonly items = new Map<string, ItemSpec>();
  private live: Live | undefined;
  private current: EndpointState = 'idle';
  private readonly controller = new AbortController();
  private supervisor: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private lostAt: number | undefined;
  private lostReason = '';
  private rebuildChain: Promise<void> = Promise.resolve();
  private rebuildScheduled = false;
  private watchdog: NodeJS.Timeout | undefined;
  private readonly failed = new Map<string, string>();
  private chosen: { securityMode: string; securityPolicy: string } | undefined;
  private readonly stats = {
    connects: 0,
    connectionRetries: 0,
    watchdogRebuilds: 0,
    lastError: undefined as EndpointHealth['lastError'],
    lastGap: undefined as GapReport | undefined,
  };

  constructor(private readonly options: EndpointSessionOptions) {
    super();
    this.spec = options.spec;
    this.logger = options.logger.child({ component: 'endpoint', endpointUrl: options.spec.endpointUrl });
    this.now = options.now ?? Date.now;
    this.timeoutMs = options.operationTimeoutMs ?? 10_000;
    this.breaker = new CircuitBreaker({
      name: `opcua ${options.spec.endpointUrl}`,
      failureThreshold: options.breakerFailureThreshold ?? 5,
      openMs: options.breakerOpenMs ?? 5_000,
      isFailure: (error) =>
        isCodedError(error) &&
        ['OPCUA_SESSION_LOST', 'OPCUA_TIMEOUT', 'OPCUA_CONNECT_FAILED', 'OPCUA_SECURITY_REJECTED'].includes(error.code),
      now: this.now,
      onStateChange: () => this.options.onHealth?.(),
    });
  }

  get state(): EndpointState {
    return this.current;
  }

  start(): void {
    this.supervisor ??= this.supervise(this.controller.signal);
    this.watchdog ??= setInterval(() => this.checkWatchdog(), 1_000);
    this.watchdog.unref();
  }

  async close(): Promise<void> {
    if (this.current === 'closed') return;
    this.controller.abort();
    if (this.watchdog) clearInterval(this.watchdog);
    this.wake?.();
    this.live?.markLost('closing');
    await this.supervisor?.catch(() => undefined);
    await this.dispose();
    this.setState('closed');
  }

  health(): EndpointHealth {
    const failedNodes = [...this.failed.entries()].slice(0, 10).map(([key, statusCode]) => ({
      nodeId: this.items.get(key)?.nodeId ?? key,
      statusCode,
    }));
    return {
      endpointUrl: this.spec.endpointUrl,
      state: this.current,
      connected: this.current === 'connected',
      sessionState: this.live ? 'active' : 'none',
      securityMode: this.chosen?.securityMode,
      securityPolicy: this.chosen?.securityPolicy,
      monitoredItems: this.current === 'connected' ? this.items.size - this.failed.size : 0,
      monitoredItemsFailed: this.failed.size,
      failedNodes,
      connects: this.stats.connects,
      connectionRetries: this.stats.connectionRetries,
      watchdogRebuilds: this.stats.watchdogRebuilds,
      lastError: this.stats.lastError,
      lastGap: this.stats.lastGap,
      circuit: this.breaker.state,
    };
  }

  /** Replaces the set of published items; affected subscriptions are rebuilt. */
  setPublishedItems(specs: readonly ItemSpec[]): void {
    // unchanged items keep their identity, so only subscriptions whose items changed are rebuilt
    const next = new Map<string, ItemSpec>();
    for (const spec of specs) {
      const candidate: ItemSpec = { ...spec, kind: 'publish' };
      const existing = this.items.get(spec.key);
      const same = existing?.kind === 'publish' && JSON.stringify(existing) === JSON.stringify(candidate);
      next.set(spec.key, same ? existing : candidate);
    }
    for (const [key, spec] of this.items) if (spec.kind === 'publish') this.items.delete(key);
    for (const [key, spec] of next) this.items.set(key, spec);
    this.scheduleRebuild();
  }

  get publishedItemCount(): number {
    let n = 0;
    for (const spec of this.items.values()) if (spec.kind === 'publish') n += 1;
    return n;
  }

  /**
   * Adds a watch and, when connected, creates its monitored item now; resolves when the server
   * accepted it (an unknown node is refused with OPCUA_NODE_NOT_FOUND and nothing is kept).
   */
  async addWatch(spec: ItemSpec, options: { requireConnected: boolean }): Promise<void> {
    const watch = { ...spec, kind: 'watch' as const };
    // in the set first, so a session rebuilt meanwhile creates it too (createWatchItem skips duplicates)
    this.items.set(watch.key, watch);
    if (!options.requireConnected && (!this.live || this.current !== 'connected')) return;
    try {
      await this.execute('watch', async () => {
        const current = this.live;
        if (!current) throw new ConnectorError('OPCUA_SESSION_LOST', `no session to ${this.spec.endpointUrl}`);
        await this.createWatchItem(current, watch);
      });
    } catch (error) {
      if (this.items.get(watch.key) === watch) {
        this.items.delete(watch.key);
        this.failed.delete(watch.key);
      }
      throw error;
    }
  }

  /** Restores a watch without contacting the server (at start, from the store). */
  restoreWatch(spec: ItemSpec): void {
    this.items.set(spec.key, { ...spec, kind: 'watch' });
  }

  async removeWatch(key: string): Promise<void> {
    this.items.delete(key);
    this.failed.delete(key);
    const group = this.live?.watchGroups.get(key);
    if (group) {
      this.live?.watchGroups.delete(key);
      await withTimeout('terminate watch', this.timeoutMs, () => group.terminate()).catch((error: unknown) =>
        this.logger.debug('could not delete a watch item; the session will be rebuilt anyway', { error }),
      );
    }
  }

  /**
   * Runs a command on the live session through the circuit breaker, with a timeout, waiting up to
   * `commandWaitMs` for a (re)connecting session; errors come back translated.
   */
  async execute<T>(what: string, operation: (live: LiveHandle) => Promise<T>, signal?: AbortSignal): Promise<T> {
    return this.breaker
      .execute(async () => {
        const live = await this.waitForLive(signal);
        try {
          return await withTimeout(
            what,
            this.timeoutMs,
            () =>
              operation({
                session: live.session,
                namespaces: live.namespaces,
                resolveNodeId: (id) => this.resolveNodeId(live, id),
              }),
            signal,
          );
        } catch (error) {
          const translated = isCodedError(error, 'OPERATION_TIMEOUT')
            ? new ConnectorError('OPCUA_TIMEOUT', `${what} on ${this.spec.endpointUrl} timed out`, { cause: error })
            : translateError(error, `${what} on ${this.spec.endpointUrl}`);
          if (isCodedError(translated, 'OPCUA_SESSION_LOST')) live.markLost(`${what} failed: ${translated.message}`);
          throw translated;
        }
      })
      .catch((error: unknown) => {
        if (isCodedError(error, 'CIRCUIT_OPEN')) {
          const details = (error as { details?: Record<string, unknown> }).details ?? {};
          throw new ConnectorError('OPCUA_CIRCUIT_OPEN', `${this.spec.endpointUrl}: ${error.message}`, {
            cause: error,
            details,
          });
        }
        throw error;
      });
  }

  /** `nsu=<uri>;rest` → a NodeId with the server's current index (the table can change on restart). */
  private resolveNodeId(live: Live, id: string): NodeId {
    const { coerceNodeId } = this.options.libs.client;
    const match = /^nsu=([^;]+);(.+)$/.exec(id);
    let text = id;
    if (match) {
      const index = live.namespaces.indexOf(match[1] as string);
      if (index < 0) {
        throw new ConnectorError('OPCUA_NODE_NOT_FOUND', `namespace ${match[1]} is not on ${this.spec.endpointUrl}`, {
          details: { nodeId: id, namespaces: live.namespaces.slice(0, 20) },
        });
      }
      text = `ns=${index};${match[2]}`;
    }
    try {
      return coerceNodeId(text);
    } catch (error) {
      throw new ConnectorError(
        'OPCUA_REQUEST_INVALID',
        `"${id}" is not a NodeId; use nsu=<namespace uri>;s=<name> (or i=, g=, b=)`,
        { cause: error, details: { nodeId: id } },
      );
    }
  }

  private async waitForLive(signal: AbortSignal | undefined): Promise<Live> {
    const deadline = this.now() + (this.options.commandWaitMs ?? 3_000);
    // bounded by the deadline: 50 ms steps
    for (let i = 0; i < 10_000; i += 1) {
      if (this.live && this.current === 'connected') return this.live;
      if (this.current === 'closed' || this.now() >= deadline || signal?.aborted) break;
      await sleep(50, signal).catch(() => undefined);
    }
    const reason = this.stats.lastError ? ` (last error ${this.stats.lastError.code})` : '';
    throw new ConnectorError('OPCUA_SESSION_LOST', `no session to ${this.spec.endpointUrl} right now${reason}`, {
      details: { state: this.current, ...(this.stats.lastError ? { lastError: this.stats.lastError.code } : {}) },
    });
  }

  private setState(next: EndpointState): void {
    if (next === this.current) return;
    this.current = next;
    this.emit('state', next);
    this.options.onHealth?.();
  }

  private recordError(error: unknown): void {
    const code = isCodedError(error) ? error.code : 'OPCUA_SESSION_LOST';
    this.stats.lastError = { code, message: errorMessage(error), at: new Date(this.now()).toISOString() };
  }

  private async supervise(signal: AbortSignal): Promise<void> {
    let attempt = 0;
    // runs until close(); each turn is one connection
    while (!signal.aborted) {
      attempt += 1;
      this.setState(this.stats.connects === 0 ? 'connecting' : 'reconnecting');
      let live: Live;
      try {
        live = await this.connect(signal);
      } catch (error) {
        if (signal.aborted) break;
        const translated = translateError(error, `connect to ${this.spec.endpointUrl}`);
        this.recordError(translated);
        this.stats.connectionRetries += 1;
        await this.dispose();
        const delayMs = backoffDelayMs(attempt, {
          initialDelayMs: this.options.reconnectInitialDelayMs ?? 500,
          maxDelayMs: this.options.reconnectMaxDelayMs ?? 30_000,
        });
        this.logger.warn('cannot connect to the OPC UA server; retrying', {
          attempt,
          delayMs,
          code: isCodedError(translated) ? translated.code : undefined,
          error: translated.message,
        });
        this.options.onHealth?.();
        if (isCodedError(translated, 'OPCUA_SECURITY_REJECTED'))
          await refreshTrust(this.options.certificateManager, this.logger);
        await sleep(delayMs, signal).catch(() => undefined);
        continue;
      }
      attempt = 0;
      this.stats.connects += 1;
      this.setState('connected');
      this.reportGap();
      this.logger.info('connected', {
        securityMode: this.chosen?.securityMode,
        securityPolicy: this.chosen?.securityPolicy,
        monitoredItems: this.items.size - this.failed.size,
        failed: this.failed.size,
      });
      const reason = await Promise.race([
        live.lost,
        new Promise<string>((resolve) => {
          this.wake = () => resolve('closing');
          if (signal.aborted) resolve('closing');
        }),
      ]);
      this.wake = undefined;
      if (signal.aborted) break;
      this.lostAt ??= this.now();
      this.lostReason = reason;
      this.recordError(new ConnectorError('OPCUA_SESSION_LOST', reason));
      this.logger.warn('session lost; rebuilding client, session and subscriptions', { reason });
      this.setState('reconnecting');
      await this.dispose();
    }
  }

  private reportGap(): void {
    if (this.lostAt === undefined) return;
    const to = this.now();
    const durationMs = Math.max(0, to - this.lostAt);
    let missed = 0;
    for (const spec of this.items.values()) {
      if (this.failed.has(spec.key)) continue;
      const period = Math.max(spec.samplingIntervalMs, spec.publishingIntervalMs, 1);
      missed += Math.floor(durationMs / period);
    }
    const gap: GapReport = {
      endpointUrl: this.spec.endpointUrl,
      from: new Date(this.lostAt).toISOString(),
      to: new Date(to).toISOString(),
      durationMs,
      monitoredItems: this.items.size - this.failed.size,
      estimatedMissedSamples: missed,
      reason: this.lostReason,
    };
    this.lostAt = undefined;
    this.stats.lastGap = gap;
    this.logger.warn('publishing resumed after a gap', { ...gap });
    this.options.onGap?.(gap);
    this.emit('gap', gap);
  }

  private async discover(signal: AbortSignal): Promise<{ securityMode: string; securityPolicy: string }> {
    const { client: lib } = this.options.libs;
    const mode = this.spec.securityMode;
    if (mode === 'None') return { securityMode: 'None', securityPolicy: 'None' };
    const probe = lib.OPCUAClient.create({
      applicationName: this.options.applicationName,
      applicationUri: this.options.applicationUri,
      clientCertificateManager: this.options.certificateManager,
      endpointMustExist: false,
      connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
      transportTimeout: this.timeoutMs,
    });
    let endpoints: EndpointDescription[];
    try {
      await withTimeout('discovery connect', this.timeoutMs, () => probe.connect(this.spec.endpointUrl), signal);
      endpoints = await withTimeout('GetEndpoints', this.timeoutMs, () => probe.getEndpoints(), signal);
    } finally {
      await withTimeout('discovery disconnect', 5_000, () => probe.disconnect()).catch(() => undefined);
    }
    const offered = endpoints.map((e) => ({
      securityMode: lib.MessageSecurityMode[e.securityMode] ?? String(e.securityMode),
      securityPolicy: (e.securityPolicyUri ?? '').replace(POLICY_URI_PREFIX, ''),
    }));
    const choice = chooseEndpoint(offered, mode, this.spec.securityPolicy);
    if (!choice) {
      throw new ConnectorError(
        'OPCUA_SECURITY_REJECTED',
        `${this.spec.endpointUrl} offers no endpoint with security ${mode}${this.spec.securityPolicy ? `/${this.spec.securityPolicy}` : ''}`,
        { details: { offered } },
      );
    }
    return choice;
  }

  private async connect(signal: AbortSignal): Promise<Live> {
    const { client: lib } = this.options.libs;
    this.chosen = await this.discover(signal);
    const client = lib.OPCUAClient.create({
      applicationName: this.options.applicationName,
      applicationUri: this.options.applicationUri,
      clientCertificateManager: this.options.certificateManager,
      securityMode: lib.MessageSecurityMode[this.chosen.securityMode as 'None'],
      securityPolicy: lib.SecurityPolicy[this.chosen.securityPolicy as 'None'],
      endpointMustExist: false,
      keepSessionAlive: true,
      keepAliveInterval: this.options.keepAliveIntervalMs ?? 5_000,
      requestedSessionTimeout: this.options.requestedSessionTimeoutMs ?? 60_000,
      transportTimeout: this.timeoutMs,
      // our supervisor reconnects; see the file comment
      connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
    });
    let markLost: (reason: string) => void = () => undefined;
    const lost = new Promise<string>((resolve) => {
      markLost = resolve;
    });
    let isLost = false;
    const lose = (reason: string) => {
      if (isLost) return;
      isLost = true;
      markLost(reason);
    };
    client.on('connection_lost', () => lose('connection lost'));
    client.on('close', () => lose('connection closed'));
    client.on('start_reconnection', () => lose('connection broken'));
    // a partially built live set, so dispose() can clean up whatever exists on failure
    const partial: Partial<Live> & { client: OPCUAClient } = { client };
    this.live = undefined;
    this.pending = partial;
    await withTimeout('connect', this.timeoutMs, () => client.connect(this.spec.endpointUrl), signal);
    const auth = this.spec.auth;
    const session = await withTimeout(
      'CreateSession/ActivateSession',
      this.timeoutMs,
      () =>
        auth.mode === 'Anonymous'
          ? client.createSession()
          : client.createSession({
              type: lib.UserTokenType.UserName,
              userName: auth.username,
              password: this.options.password() ?? '',
            }),
      signal,
    ).catch((error: unknown) => {
      const translated = translateError(error, `open a session on ${this.spec.endpointUrl}`);
      if (isCodedError(translated, 'OPCUA_ACCESS_DENIED')) {
        throw new ConnectorError(
          'OPCUA_AUTH_FAILED',
          `${this.spec.endpointUrl} refused the user${auth.mode === 'Anonymous' ? ' (anonymous)' : ` "${auth.username}"`}: wrong user name or password, or the user may not log in`,
          { cause: error, details: (translated as ConnectorError).details ?? {} },
        );
      }
      throw translated;
    });
    partial.session = session;
    session.on('keepalive_failure', () => lose('keep-alive failed'));
    session.on('session_closed', () => lose('session closed'));
    const namespaces = await withTimeout('read namespace array', this.timeoutMs, () => session.readNamespaceArray());
    const live: Live = {
      client,
      session,
      namespaces,
      subscriptions: new Map(),
      watchGroups: new Map(),
      lost,
      markLost: lose,
    };
    this.pending = live;
    this.failed.clear();
    await this.buildAll(live);
    this.pending = undefined;
    this.live = live;
    return live;
  }

  private pending: (Partial<Live> & { client: OPCUAClient }) | undefined;

  private subscriptionId(kind: 'publish' | 'watch', publishingIntervalMs: number): string {
    return `${kind}:${publishingIntervalMs}`;
  }

  private async ensureSubscription(
    live: Live,
    kind: 'publish' | 'watch',
    publishingIntervalMs: number,
  ): Promise<LiveSubscription> {
    const id = this.subscriptionId(kind, publishingIntervalMs);
    const existing = live.subscriptions.get(id);
    if (existing) return existing;
    const { ClientSubscription } = this.options.libs.client;
    const interval = Math.max(publishingIntervalMs, 1);
    const maxKeepAliveCount = Math.max(1, Math.min(100, Math.ceil(5_000 / interval)));
    const subscription = ClientSubscription.create(live.session, {
      requestedPublishingInterval: interval,
      requestedMaxKeepAliveCount: maxKeepAliveCount,
      requestedLifetimeCount: maxKeepAliveCount * 6,
      maxNotificationsPerPublish: 10_000,
      publishingEnabled: true,
      priority: kind === 'watch' ? 200 : 100,
    });
    const entry: LiveSubscription = {
      id,
      kind,
      publishingIntervalMs,
      subscription,
      keepAlivePeriodMs: interval * maxKeepAliveCount,
      lastActivity: this.now(),
      keys: new Set(),
      groups: [],
    };
    await withTimeout(
      'CreateSubscription',
      this.timeoutMs,
      () =>
        new Promise<void>((resolve, reject) => {
          subscription.once('started', () => resolve());
          subscription.once('internal_error', (error: Error) => reject(error));
        }),
    );
    const touch = () => {
      entry.lastActivity = this.now();
    };
    subscription.on('keepalive', touch);
    subscription.on('received_notifications', touch);
    subscription.on('terminated', () => {
      if (live.subscriptions.get(id) === entry) live.markLost(`subscription ${id} terminated`);
    });
    subscription.on('internal_error', (error: Error) => live.markLost(`subscription ${id}: ${error.message}`));
    live.subscriptions.set(id, entry);
    return entry;
  }

  private monitoringParameters(spec: ItemSpec): {
    samplingInterval: number;
    queueSize: number;
    discardOldest: boolean;
    filter?: InstanceType<OpcuaLibraries['client']['DataChangeFilter']>;
  } {
    const { DataChangeFilter, DataChangeTrigger, DeadbandType } = this.options.libs.client;
    const base = {
      samplingInterval: spec.samplingIntervalMs,
      queueSize: spec.queueSize,
      discardOldest: spec.discardOldest,
    };
    if (spec.trigger === undefined && spec.deadband === undefined) return base;
    return {
      ...base,
      filter: new DataChangeFilter({
        trigger: DataChangeTrigger[spec.trigger ?? 'StatusValue'],
        deadbandType: spec.deadband ? DeadbandType[spec.deadband.type] : DeadbandType.None,
        deadbandValue: spec.deadband?.value ?? 0,
      }),
    };
  }

  private paramsKey(spec: ItemSpec): string {
    return [
      spec.samplingIntervalMs,
      spec.queueSize,
      spec.discardOldest,
      spec.trigger ?? '',
      spec.deadband?.type ?? '',
      spec.deadband?.value ?? '',
    ].join('|');
  }

  /** Creates monitored items for `specs` (one params set) in chunks; records per-node failures. */
  private async monitor(live: Live, entry: LiveSubscription, specs: readonly ItemSpec[]): Promise<void> {
    const { AttributeIds, TimestampsToReturn } = this.options.libs.client;
    const chunkSize = this.options.monitorChunkSize ?? 1_000;
    const first = specs[0];
    if (!first) return;
    const parameters = this.monitoringParameters(first);
    const resolvable: { spec: ItemSpec; nodeId: NodeId }[] = [];
    for (const spec of specs) {
      try {
        resolvable.push({ spec, nodeId: this.resolveNodeId(live, spec.nodeId) });
      } catch (error) {
        this.failed.set(spec.key, isCodedError(error) ? error.code : 'BadNodeIdInvalid');
      }
    }
    for (let offset = 0; offset < resolvable.length; offset += chunkSize) {
      const chunk = resolvable.slice(offset, offset + chunkSize);
      const group = await withTimeout('CreateMonitoredItems', Math.max(this.timeoutMs, 30_000), () =>
        entry.subscription.monitorItems(
          chunk.map((c) => ({ nodeId: c.nodeId, attributeId: AttributeIds.Value })),
          parameters,
          TimestampsToReturn.Both,
        ),
      );
      group.monitoredItems.forEach((item, index) => {
        const spec = chunk[index]?.spec;
        if (spec && item.statusCode.isNotGood()) this.failed.set(spec.key, item.statusCode.name);
      });
      const chunkSpecs = chunk.map((c) => c.spec);
      group.on('changed', (_item, dataValue: DataValue, index: number) => {
        const spec = chunkSpecs[index];
        if (spec) this.options.onValue(spec, this.toItemValue(dataValue));
      });
      entry.groups.push(group);
      if (chunkSpecs.length === 1 && first.kind === 'watch') live.watchGroups.set(first.key, group);
    }
  }

  private toItemValue(dataValue: DataValue): ItemValue {
    const variant = dataValue.value;
    const dataType = variant?.dataType as number | undefined;
    return {
      value: valueToJson(variant?.value, dataType),
      dataType,
      sourceTimestamp: dataValue.sourceTimestamp ?? undefined,
      serverTimestamp: dataValue.serverTimestamp ?? undefined,
      statusCode: dataValue.statusCode.value,
      statusName: dataValue.statusCode.name,
    };
  }

  private async createWatchItem(live: Live, spec: ItemSpec): Promise<void> {
    if (live.watchGroups.has(spec.key)) return;
    const entry = await this.ensureSubscription(live, 'watch', spec.publishingIntervalMs);
    this.failed.delete(spec.key);
    await this.monitor(live, entry, [spec]);
    const status = this.failed.get(spec.key);
    if (status !== undefined) {
      this.failed.delete(spec.key);
      const group = live.watchGroups.get(spec.key);
      live.watchGroups.delete(spec.key);
      await group?.terminate().catch(() => undefined);
      throw translateError(new Error(status), `watch ${spec.nodeId}`, { nodeId: spec.nodeId });
    }
  }

  /** Builds every subscription and monitored item from the specs (after a (re)connect). */
  private async buildAll(live: Live): Promise<void> {
    const byPublishing = new Map<number, ItemSpec[]>();
    for (const spec of this.items.values()) {
      if (spec.kind === 'watch') {
        const entry = await this.ensureSubscription(live, 'watch', spec.publishingIntervalMs);
        await this.monitor(live, entry, [spec]);
        continue;
      }
      const list = byPublishing.get(spec.publishingIntervalMs) ?? [];
      list.push(spec);
      byPublishing.set(spec.publishingIntervalMs, list);
    }
    for (const [interval, specs] of byPublishing) await this.buildPublishSubscription(live, interval, specs);
  }

  private async buildPublishSubscription(live: Live, interval: number, specs: readonly ItemSpec[]): Promise<void> {
    const entry = await this.ensureSubscription(live, 'publish', interval);
    const byParams = new Map<string, ItemSpec[]>();
    for (const spec of specs) {
      const key = this.paramsKey(spec);
      const list = byParams.get(key) ?? [];
      list.push(spec);
      byParams.set(key, list);
      entry.keys.add(spec.key);
    }
    for (const group of byParams.values()) await this.monitor(live, entry, group);
  }

  /** Rebuilds publish subscriptions whose item set changed (serialized; coalesced). */
  private scheduleRebuild(): void {
    if (this.rebuildScheduled) return;
    this.rebuildScheduled = true;
    this.rebuildChain = this.rebuildChain
      .then(async () => {
        this.rebuildScheduled = false;
        const live = this.live;
        if (!live || this.current !== 'connected') return;
        const wanted = new Map<number, ItemSpec[]>();
        for (const spec of this.items.values()) {
          if (spec.kind !== 'publish') continue;
          const list = wanted.get(spec.publishingIntervalMs) ?? [];
          list.push(spec);
          wanted.set(spec.publishingIntervalMs, list);
        }
        for (const entry of [...live.subscriptions.values()]) {
          if (entry.kind !== 'publish') continue;
          const specs = wanted.get(entry.publishingIntervalMs) ?? [];
          const same =
            specs.length === entry.keys.size &&
            specs.every((s) => entry.keys.has(s.key) && this.items.get(s.key) === s);
          if (same) {
            wanted.delete(entry.publishingIntervalMs);
            continue;
          }
          live.subscriptions.delete(entry.id);
          for (const key of entry.keys) this.failed.delete(key);
          await withTimeout('delete subscription', this.timeoutMs, () => entry.subscription.terminate()).catch(
            () => undefined,
          );
        }
        for (const [interval, specs] of wanted) {
          if (specs.length > 0) await this.buildPublishSubscription(live, interval, specs);
        }
        this.options.onHealth?.();
      })
      .catch((error: unknown) => {
        this.logger.warn('could not update the subscriptions; rebuilding the session', { error });
        this.live?.markLost(`subscription update failed: ${errorMessage(error)}`);
      });
  }

  private checkWatchdog(): void {
    const live = this.live;
    if (!live || this.current !== 'connected') return;
    const now = this.now();
    for (const entry of live.subscriptions.values()) {
      const limit = Math.max(3 * entry.keepAlivePeriodMs, 5_000);
      if (now - entry.lastActivity > limit) {
        this.stats.watchdogRebuilds += 1;
        this.logger.warn('subscription stalled: no notification and no keep-alive; rebuilding the session', {
          subscription: entry.id,
          silentMs: now - entry.lastActivity,
        });
        live.markLost(`subscription ${entry.id} stalled for ${now - entry.lastActivity} ms`);
        return;
      }
    }
  }

  private async dispose(): Promise<void> {
    const target = this.live ?? this.pending;
    this.live = undefined;
    this.pending = undefined;
    if (!target) return;
    const client = target.client;
    client.removeAllListeners();
    target.session?.removeAllListeners();
    for (const entry of target.subscriptions?.values() ?? []) entry.subscription.removeAllListeners();
    await withTimeout('close session', 3_000, async () => {
      await target.session?.close(true);
    }).catch(() => undefined);
    await withTimeout('disconnect', 3_000, () => client.disconnect()).catch(() => undefined);
  }
}

/** What a command sees. */
export interface LiveHandle {
  session: ClientSession;
  /** The server's namespace table, read at session start. */
  namespaces: readonly string[];
  resolveNodeId(id: string): NodeId;
}
