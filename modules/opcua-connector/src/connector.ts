/**
 * The connector core: endpoint sessions, the published-nodes configuration (file + twin + methods),
 * telemetry batching, watches for the orchestrator, commands and their audit records. It knows
 * nothing of MQTT: it appends to the durable outbox (`telemetry`, `tags`, `audit`) and hands health
 * to a `report` callback; `edge/` wires it to the SupervisedModuleClient.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync, openSync, fsyncSync, closeSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  type Logger,
  type Outbox,
  type SqliteDatabase,
  applyMigrations,
  errorMessage,
  isCodedError,
} from '@takt/edge-kit';
import type { OPCUACertificateManager } from 'node-opcua-certificate-manager';
import {
  DEFAULT_PUBLISHING,
  type EndpointFilter,
  type EndpointSpec,
  type MonitoredNodeSpec,
  type PublishedNodesEntry,
  PublishedNodesFileSchema,
  endpointPart,
  endpointSpecOf,
  monitoredNodesOf,
  nodesOnEndpoint,
  publishNodes,
  unpublishAll,
  unpublishNodes,
  withoutSecrets,
  writerGroupOf,
  writerIdOf,
  writerKeyOf,
} from './config/published-nodes.js';
import type { Settings } from './config/settings.js';
import { type WriteAuditFacts, writeAuditRecord } from './encoding/audit-record.js';
import { type EncodeContext, type ValueChange, encodeBatch } from './encoding/messages.js';
import { ConnectorError } from './errors.js';
import { browseNode, callMethod, readValues, writeValue } from './opcua/commands.js';
import { EndpointSession, type GapReport, type ItemSpec, type ItemValue } from './opcua/endpoint-session.js';
import type { OpcuaLibraries } from './opcua/node-opcua.js';

export interface ConnectorOptions {
  logger: Logger;
  libs: OpcuaLibraries;
  certificateManager: OPCUACertificateManager;
  db: SqliteDatabase;
  outbox: Outbox;
  settings: Settings;
  applicationName: string;
  /** Default PublisherId in network messages. */
  publisherId: string;
  /** The OPC Publisher-compatible file managed by the PublishNodes methods (null: none). */
  publishedNodesFile: string | undefined;
  /** Secret lookup: `OPCUA_SECRET_<name>` from the environment. */
  secret: (name: string) => string | undefined;
  /** Sends a reported-properties patch (health). */
  report?: (patch: Record<string, unknown>) => Promise<void>;
  now?: () => number;
}

export interface WatchRequest {
  endpointUrl?: string | undefined;
  nodeId: string;
  watchId?: string | undefined;
  samplingIntervalMs: number;
  publishingIntervalMs: number;
  queueSize: number;
  deadband?: { type: 'Absolute' | 'Percent'; value: number } | undefined;
}

interface WatchRow {
  watch_id: string;
  endpoint_url: string;
  node_id: string;
  sampling_ms: number;
  publishing_ms: number;
  queue_size: number;
  deadband: string | null;
  seq: number;
}

interface EndpointCounters {
  valuesReceived: number;
  valuesSent: number;
  valuesDropped: number;
  messagesSent: number;
  gaps: number;
}

interface WriterCounters {
  ingressValueChanges: number;
  encoderNotificationsDropped: number;
}

/** Twin keys may not contain `.`, `$`, `#` or spaces. */
export function twinKey(text: string): string {
  return text.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 120);
}

export class OpcuaConnector {
  private readonly logger: Logger;
  private settings: Settings;
  private readonly now: () => number;
  private fileEntries: PublishedNodesEntry[] = [];
  private twinEntries: PublishedNodesEntry[] = [];
  private commandEndpoints = new Map<string, PublishedNodesEntry>();
  private readonly sessions = new Map<string, EndpointSession>();
  /** Item key → its published node. */
  private nodesByKey = new Map<string, MonitoredNodeSpec & { endpointUrl: string }>();
  private readonly inlinePasswords = new Map<string, string>();
  private readonly counters = new Map<string, EndpointCounters>();
  private readonly writerCounters = new Map<string, WriterCounters>();
  private batch: ValueChange[] = [];
  private batchTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private healthTimer: NodeJS.Timeout | undefined;
  private reportedKeys = new Set<string>();
  private healthDebounce: NodeJS.Timeout | undefined;
  private readonly lastValues = new Map<string, { change: ValueChange; emittedAt: number }>();
  private readonly encodeContext: EncodeContext;
  private readonly watchStmt: {
    all: { all(): unknown[] };
    upsert: { run(params: Record<string, unknown>): unknown };
    remove: { run(id: string): { changes: number } };
    bump: { get(id: string): unknown };
  };
  private readonly watches = new Map<string, WatchRow>();
  private twinApplied = false;
  private closed = false;

  constructor(private readonly options: ConnectorOptions) {
    this.logger = options.logger.child({ component: 'connector' });
    this.settings = options.settings;
    this.now = options.now ?? Date.now;
    this.encodeContext = {
      publisherId: options.settings.publisherId ?? options.publisherId,
      sequences: new Map(),
      nextMessageId: () => randomUUID(),
      now: () => new Date(this.now()),
    };
    applyMigrations(options.db, 'opcua_connector', [
      {
        version: 1,
        name: 'watches',
        up: `CREATE TABLE opcua_watches (
               watch_id TEXT PRIMARY KEY, endpoint_url TEXT NOT NULL, node_id TEXT NOT NULL,
               sampling_ms INTEGER NOT NULL, publishing_ms INTEGER NOT NULL, queue_size INTEGER NOT NULL,
               deadband TEXT, seq INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL) STRICT;`,
      },
    ]);
    const db = options.db;
    this.watchStmt = {
      all: db.prepare('SELECT * FROM opcua_watches ORDER BY created_at'),
      upsert: db.prepare(
        `INSERT INTO opcua_watches (watch_id, endpoint_url, node_id, sampling_ms, publishing_ms, queue_size, deadband, created_at)
         VALUES (@watch_id, @endpoint_url, @node_id, @sampling_ms, @publishing_ms, @queue_size, @deadband, @created_at)
         ON CONFLICT(watch_id) DO UPDATE SET endpoint_url = excluded.endpoint_url, node_id = excluded.node_id,
           sampling_ms = excluded.sampling_ms, publishing_ms = excluded.publishing_ms,
           queue_size = excluded.queue_size, deadband = excluded.deadband`,
      ),
      remove: db.prepare('DELETE FROM opcua_watches WHERE watch_id = ?'),
      bump: db.prepare('UPDATE opcua_watches SET seq = seq + 1 WHERE watch_id = ? RETURNING seq').pluck(),
    };
  }

  /** Loads the published-nodes file and the stored watches, opens the endpoints. */
  start(): void {
    this.fileEntries = this.loadFile();
    for (const row of this.watchStmt.all.all() as WatchRow[]) this.watches.set(row.watch_id, row);
    this.reconcile();
    this.armTimers();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const timer of [this.batchTimer, this.heartbeatTimer, this.healthTimer, this.healthDebounce]) {
      if (timer) clearInterval(timer);
    }
    this.flush();
    await Promise.all([...this.sessions.values()].map((s) => s.close()));
    this.sessions.clear();
  }

  // ---------------------------------------------------------------- configuration

  /**
   * The module's twin (settings, endpoints, published nodes) has been applied once since start. Before
   * that, a command for an endpoint the connector does not know yet is answered `OPCUA_NOT_CONFIGURED`
   * (retryable): the twin may be about to add it (a restart answers methods before the twin is read).
   */
  markTwinApplied(): void {
    this.twinApplied = true;
  }

  applySettings(settings: Settings): void {
    const sessionRelevant = (s: Settings) =>
      JSON.stringify([
        s.commandTimeoutMs,
        s.commandWaitMs,
        s.reconnectInitialDelayMs,
        s.reconnectMaxDelayMs,
        s.keepAliveIntervalMs,
        s.breakerFailureThreshold,
        s.breakerOpenMs,
      ]);
    const rebuild = sessionRelevant(settings) !== sessionRelevant(this.settings);
    this.settings = settings;
    this.options.certificateManager.automaticallyAcceptUnknownCertificate = settings.autoAcceptUntrustedCertificates;
    this.encodeContext.publisherId = settings.publisherId ?? this.options.publisherId;
    this.armTimers();
    if (rebuild) {
      const old = [...this.sessions.values()];
      this.sessions.clear();
      void Promise.all(old.map((s) => s.close())).then(() => this.reconcile());
    } else {
      this.reconcile();
    }
  }

  /** The twin's `publishedNodes` (validated by the edge adapter; inline passwords refused there). */
  setTwinEntries(entries: readonly PublishedNodesEntry[]): void {
    this.twinEntries = [...entries];
    this.reconcile();
  }

  setCommandEndpoints(entries: ReadonlyMap<string, PublishedNodesEntry>): void {
    this.commandEndpoints = new Map(entries);
    this.reconcile();
  }

  private allEntries(): PublishedNodesEntry[] {
    return [...this.twinEntries, ...this.fileEntries];
  }

  private loadFile(): PublishedNodesEntry[] {
    const file = this.options.publishedNodesFile;
    if (!file) return [];
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return [];
    }
    try {
      const parsed = PublishedNodesFileSchema.safeParse(JSON.parse(text));
      if (!parsed.success) {
        this.logger.error('the published-nodes file is invalid; ignoring it', {
          file,
          code: 'OPCUA_REQUEST_INVALID',
          problems: parsed.error.issues.slice(0, 10).map((i) => `${i.path.join('.')}: ${i.message}`),
        });
        return [];
      }
      for (const entry of parsed.data) this.rememberPassword(entry);
      return parsed.data;
    } catch (error) {
      this.logger.error('the published-nodes file is not JSON; ignoring it', { file, error: errorMessage(error) });
      return [];
    }
  }

  /** Persists the method-managed entries (temp file, fsync, rename). */
  private saveFile(): void {
    const file = this.options.publishedNodesFile;
    if (!file) return;
    mkdirSync(dirname(file), { recursive: true });
    const temp = `${file}.tmp`;
    writeFileSync(temp, `${JSON.stringify(this.fileEntries, null, 2)}\n`, { mode: 0o600 });
    const fd = openSync(temp, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, file);
  }

  private rememberPassword(entry: PublishedNodesEntry): void {
    if (entry.OpcAuthenticationPassword !== undefined) {
      this.inlinePasswords.set(endpointSpecOf(entry).key, entry.OpcAuthenticationPassword);
    }
  }

  private passwordFor(spec: EndpointSpec): string | undefined {
    if (spec.auth.mode !== 'UsernamePassword') return undefined;
    if (spec.auth.passwordSecret !== undefined) return this.options.secret(spec.auth.passwordSecret);
    return this.inlinePasswords.get(spec.key);
  }

  /** Brings sessions and their monitored items in line with the configuration. */
  private reconcile(): void {
    if (this.closed) return;
    const defaults = {
      samplingIntervalMs: this.settings.defaultSamplingIntervalMs ?? DEFAULT_PUBLISHING.samplingIntervalMs,
      publishingIntervalMs: this.settings.defaultPublishingIntervalMs ?? DEFAULT_PUBLISHING.publishingIntervalMs,
      queueSize: this.settings.defaultQueueSize ?? DEFAULT_PUBLISHING.queueSize,
    };
    const wanted = new Map<string, { spec: EndpointSpec; items: ItemSpec[] }>();
    const nodes = new Map<string, MonitoredNodeSpec & { endpointUrl: string }>();
    const want = (spec: EndpointSpec) => {
      let entry = wanted.get(spec.key);
      if (!entry) {
        entry = { spec, items: [] };
        wanted.set(spec.key, entry);
      }
      return entry;
    };
    for (const entry of this.allEntries()) {
      const spec = endpointSpecOf(entry);
      const target = want(spec);
      for (const node of monitoredNodesOf(entry, defaults)) {
        if (nodes.has(node.key)) continue;
        nodes.set(node.key, { ...node, endpointUrl: spec.endpointUrl });
        target.items.push({
          key: node.key,
          kind: 'publish',
          nodeId: node.nodeId,
          samplingIntervalMs: node.samplingIntervalMs,
          publishingIntervalMs: node.publishingIntervalMs,
          queueSize: node.queueSize,
          discardOldest: node.discardOldest,
          trigger: node.trigger,
          deadband: node.deadband,
        });
      }
    }
    for (const entry of this.commandEndpoints.values()) want(endpointSpecOf(entry));
    this.nodesByKey = nodes;
    for (const [key, session] of this.sessions) {
      if (!wanted.has(key)) {
        this.sessions.delete(key);
        void session.close();
      }
    }
    for (const { spec, items } of wanted.values()) {
      let session = this.sessions.get(spec.key);
      if (!session) {
        session = this.createSession(spec);
        this.sessions.set(spec.key, session);
        for (const watch of this.watches.values()) {
          if (this.sessionForUrl(watch.endpoint_url) === session) session.restoreWatch(this.watchItem(watch));
        }
        session.setPublishedItems(items);
        session.start();
      } else {
        session.setPublishedItems(items);
      }
    }
    this.markHealthDirty();
  }

  private createSession(spec: EndpointSpec): EndpointSession {
    const s = this.settings;
    return new EndpointSession({
      spec,
      libs: this.options.libs,
      certificateManager: this.options.certificateManager,
      applicationName: this.options.applicationName,
      applicationUri: `urn:takt:${this.options.applicationName}`,
      logger: this.logger,
      password: () => this.passwordFor(spec),
      onValue: (item, value) => this.onValue(spec, item, value),
      onGap: (gap) => this.onGap(spec, gap),
      onHealth: () => this.markHealthDirty(),
      reconnectInitialDelayMs: s.reconnectInitialDelayMs,
      reconnectMaxDelayMs: s.reconnectMaxDelayMs,
      operationTimeoutMs: s.commandTimeoutMs,
      commandWaitMs: s.commandWaitMs,
      keepAliveIntervalMs: s.keepAliveIntervalMs,
      breakerFailureThreshold: s.breakerFailureThreshold,
      breakerOpenMs: s.breakerOpenMs,
      now: this.now,
    });
  }

  private counter(endpointUrl: string): EndpointCounters {
    let c = this.counters.get(endpointUrl);
    if (!c) {
      c = { valuesReceived: 0, valuesSent: 0, valuesDropped: 0, messagesSent: 0, gaps: 0 };
      this.counters.set(endpointUrl, c);
    }
    return c;
  }

  private writerCounter(key: string): WriterCounters {
    let c = this.writerCounters.get(key);
    if (!c) {
      c = { ingressValueChanges: 0, encoderNotificationsDropped: 0 };
      this.writerCounters.set(key, c);
    }
    return c;
  }

  // ---------------------------------------------------------------- telemetry

  private onValue(spec: EndpointSpec, item: ItemSpec, value: ItemValue): void {
    if (item.kind === 'watch') {
      this.onWatchValue(spec, item, value);
      return;
    }
    const node = this.nodesByKey.get(item.key);
    if (!node) return;
    this.counter(spec.endpointUrl).valuesReceived += 1;
    this.writerCounter(`${node.writerGroup}/${node.writerId}`).ingressValueChanges += 1;
    const change: ValueChange = {
      endpointUrl: spec.endpointUrl,
      writerGroup: node.writerGroup,
      writerId: node.writerId,
      dataSetName: node.dataSetName,
      nodeId: node.nodeId,
      fieldName: node.fieldName,
      displayName: node.displayName,
      value: value.value,
      sourceTimestamp: value.sourceTimestamp?.toISOString(),
      serverTimestamp: value.serverTimestamp?.toISOString(),
      statusCode: value.statusCode,
    };
    if (node.heartbeatIntervalMs > 0) this.lastValues.set(item.key, { change, emittedAt: this.now() });
    this.batch.push(change);
    if (this.batch.length >= this.settings.batchSize || this.settings.batchIntervalMs === 0) this.flush();
  }

  /** Encodes the pending batch and appends it to the outbox (or drops it when the queue is full). */
  flush(): void {
    if (this.batch.length === 0) return;
    const changes = this.batch;
    this.batch = [];
    const { bodies, oversized } = encodeBatch(
      changes,
      this.settings.messageEncoding,
      this.settings.maxMessageBytes,
      this.encodeContext,
    );
    for (const change of oversized) {
      this.counter(change.endpointUrl).valuesDropped += 1;
      this.writerCounter(`${change.writerGroup}/${change.writerId}`).encoderNotificationsDropped += 1;
    }
    if (oversized.length > 0) {
      this.logger.warn('value too large for one message; dropped', {
        count: oversized.length,
        nodeId: oversized[0]?.nodeId,
      });
    }
    const queued = this.options.outbox.size();
    if (queued + bodies.length > this.settings.maxQueuedMessages) {
      for (const change of changes) {
        this.counter(change.endpointUrl).valuesDropped += 1;
        this.writerCounter(`${change.writerGroup}/${change.writerId}`).encoderNotificationsDropped += 1;
      }
      this.logger.warn('telemetry queue full; batch dropped', {
        queued,
        values: changes.length,
        code: 'OPCUA_QUEUE_FULL',
      });
      this.markHealthDirty();
      return;
    }
    const schema = this.settings.messageEncoding === 'pubsub' ? 'ua-data' : 'samples';
    this.options.db.transaction(() => {
      for (const body of bodies) {
        this.options.outbox.append({
          channel: 'telemetry',
          body,
          contentType: 'application/json',
          source: 'telemetry',
          properties: { messageSchema: schema, publisherId: this.encodeContext.publisherId },
        });
      }
    })();
    const perEndpoint = new Map<string, number>();
    for (const change of changes) perEndpoint.set(change.endpointUrl, (perEndpoint.get(change.endpointUrl) ?? 0) + 1);
    for (const [url, n] of perEndpoint) {
      const c = this.counter(url);
      c.valuesSent += n - oversized.filter((o) => o.endpointUrl === url).length;
      c.messagesSent += bodies.length;
    }
  }

  private heartbeat(): void {
    const now = this.now();
    for (const [key, last] of this.lastValues) {
      const node = this.nodesByKey.get(key);
      if (!node || node.heartbeatIntervalMs <= 0) {
        this.lastValues.delete(key);
        continue;
      }
      if (now - last.emittedAt >= node.heartbeatIntervalMs) {
        last.emittedAt = now;
        this.batch.push({ ...last.change });
      }
    }
    if (this.batch.length >= this.settings.batchSize) this.flush();
  }

  private onGap(spec: EndpointSpec, gap: GapReport): void {
    this.counter(spec.endpointUrl).gaps += 1;
    this.flush();
    try {
      this.options.outbox.append({
        channel: 'telemetry',
        body: { MessageId: randomUUID(), MessageType: 'takt-gap', PublisherId: this.encodeContext.publisherId, ...gap },
        contentType: 'application/json',
        source: 'telemetry',
        properties: { messageSchema: 'takt-gap', publisherId: this.encodeContext.publisherId },
      });
    } catch (error) {
      this.logger.warn('could not queue the gap report', { error });
    }
    this.markHealthDirty();
  }

  private armTimers(): void {
    if (this.closed) return;
    if (this.batchTimer) clearInterval(this.batchTimer);
    this.batchTimer = setInterval(() => this.flush(), Math.max(this.settings.batchIntervalMs, 10));
    this.heartbeatTimer ??= setInterval(() => this.heartbeat(), 1_000);
    if (this.healthTimer) clearInterval(this.healthTimer);
    this.healthTimer = setInterval(() => void this.reportHealth(), this.settings.healthReportIntervalMs);
    for (const t of [this.batchTimer, this.heartbeatTimer, this.healthTimer]) t.unref();
  }

  // ---------------------------------------------------------------- health

  private markHealthDirty(): void {
    if (this.healthDebounce || this.closed || !this.options.report) return;
    this.healthDebounce = setTimeout(() => {
      this.healthDebounce = undefined;
      void this.reportHealth();
    }, 500);
    this.healthDebounce.unref();
  }

  /** The `endpointHealth` reported property. */
  health(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const session of this.sessions.values()) {
      const h = session.health();
      const c = this.counter(h.endpointUrl);
      const key = twinKey(
        `${h.endpointUrl}${session.spec.auth.mode === 'Anonymous' ? '' : `_${session.spec.auth.username}`}`,
      );
      out[key] = {
        endpointUrl: h.endpointUrl,
        connected: h.connected,
        state: h.state,
        sessionState: h.sessionState,
        securityMode: h.securityMode ?? null,
        securityPolicy: h.securityPolicy ?? null,
        monitoredItems: h.monitoredItems,
        monitoredItemsFailed: h.monitoredItemsFailed,
        failedNodes: h.failedNodes,
        valuesReceived: c.valuesReceived,
        valuesSent: c.valuesSent,
        valuesDropped: c.valuesDropped,
        messagesSent: c.messagesSent,
        connects: h.connects,
        connectionRetries: h.connectionRetries,
        watchdogRebuilds: h.watchdogRebuilds,
        circuit: h.circuit,
        lastError: h.lastError ?? null,
        lastGap: h.lastGap ?? null,
        gaps: c.gaps,
      };
    }
    return out;
  }

  private async reportHealth(): Promise<void> {
    const report = this.options.report;
    if (!report || this.closed) return;
    const health: Record<string, unknown> = this.health();
    // reported properties are merge-patched: an endpoint that is gone must be deleted with null
    for (const key of this.reportedKeys) if (!(key in health)) health[key] = null;
    try {
      await report({ endpointHealth: health, watches: this.watches.size });
      this.reportedKeys = new Set(Object.keys(health).filter((key) => health[key] !== null));
    } catch (error) {
      this.logger.debug('could not report health; will try again', { error: errorMessage(error) });
    }
  }

  // ---------------------------------------------------------------- OPC Publisher methods

  publishNodes(entry: PublishedNodesEntry): Record<string, never> {
    this.rememberPassword(entry);
    this.fileEntries = publishNodes(this.fileEntries, entry);
    this.saveFile();
    this.reconcile();
    return {};
  }

  unpublishNodes(entry: PublishedNodesEntry): Record<string, never> {
    const { entries, missing } = unpublishNodes(this.fileEntries, entry);
    if (missing.length > 0) {
      throw new ConnectorError(
        'OPCUA_REQUEST_INVALID',
        `${missing.length} node(s) are not published on this writer (twin-configured nodes are removed through the twin)`,
        { details: { missing: missing.slice(0, 50), writer: writerKeyOf(entry) } },
      );
    }
    this.fileEntries = entries;
    this.saveFile();
    this.reconcile();
    return {};
  }

  unpublishAllNodes(request: EndpointFilter): Record<string, never> {
    this.fileEntries = unpublishAll(this.fileEntries, request);
    this.saveFile();
    this.reconcile();
    return {};
  }

  getConfiguredEndpoints(): { Endpoints: PublishedNodesEntry[] } {
    return { Endpoints: this.allEntries().map(endpointPart) };
  }

  getConfiguredNodesOnEndpoint(request: EndpointFilter): { OpcNodes: unknown[] } {
    return { OpcNodes: nodesOnEndpoint(this.allEntries().map(withoutSecrets), request) };
  }

  getDiagnosticInfo(): Record<string, unknown>[] {
    return this.allEntries().map((entry) => {
      const spec = endpointSpecOf(entry);
      const session = this.sessions.get(spec.key);
      const h = session?.health();
      const nodeIds = new Set((entry.OpcNodes ?? []).map((n) => n.Id));
      const failed = h?.failedNodes.filter((f) => nodeIds.has(f.nodeId)).length ?? 0;
      const wc = this.writerCounter(`${writerGroupOf(entry)}/${writerIdOf(entry)}`);
      const c = this.counter(spec.endpointUrl);
      return {
        Endpoint: endpointPart(entry),
        opcEndpointConnected: h?.connected ?? false,
        monitoredOpcNodesSucceededCount: h?.connected ? nodeIds.size - failed : 0,
        monitoredOpcNodesFailedCount: failed,
        ingressValueChanges: wc.ingressValueChanges,
        encoderNotificationsDropped: wc.encoderNotificationsDropped,
        outgressValueChanges: c.valuesSent,
        sentMessages: c.messagesSent,
        connectionRetries: h?.connectionRetries ?? 0,
        lastGap: h?.lastGap ?? null,
        watches: [...this.watches.values()].filter((w) => w.endpoint_url === spec.endpointUrl).map((w) => w.watch_id),
      };
    });
  }

  // ---------------------------------------------------------------- commands

  /** The session that serves commands for an endpoint URL (first configured match). */
  private sessionForUrl(endpointUrl: string): EndpointSession | undefined {
    for (const session of this.sessions.values()) if (session.spec.endpointUrl === endpointUrl) return session;
    return undefined;
  }

  private requireSession(requested: string | undefined): EndpointSession {
    const urls = [...new Set([...this.sessions.values()].map((s) => s.spec.endpointUrl))];
    if (requested === undefined && urls.length !== 1) {
      throw new ConnectorError(
        'OPCUA_REQUEST_INVALID',
        `endpointUrl is required: ${urls.length} endpoints are configured`,
        { details: { configured: urls } },
      );
    }
    const endpointUrl = requested ?? urls[0] ?? '';
    const session = this.sessionForUrl(endpointUrl);
    if (!session && !this.twinApplied) {
      throw new ConnectorError(
        'OPCUA_NOT_CONFIGURED',
        `the connector has not applied its twin since it started; ${endpointUrl} may be configured there: retry shortly`,
        { details: { endpointUrl } },
      );
    }
    if (!session) {
      throw new ConnectorError(
        'OPCUA_ENDPOINT_UNKNOWN',
        `${endpointUrl} is not configured; add it to the twin's endpoints or publishedNodes`,
        {
          details: {
            endpointUrl,
            configured: [...new Set([...this.sessions.values()].map((s) => s.spec.endpointUrl))],
          },
        },
      );
    }
    return session;
  }

  async read(endpointUrl: string | undefined, nodeIds: readonly string[], signal?: AbortSignal): Promise<unknown> {
    const session = this.requireSession(endpointUrl);
    const results = await session.execute(
      'read',
      (live) => readValues(this.options.libs.client, live, nodeIds),
      signal,
    );
    if (results.length === 1 && results[0] && 'error' in results[0]) throw results[0].error;
    return {
      values: results.map((r) => ('error' in r ? { nodeId: r.nodeId, error: r.error.toJSON() } : r)),
    };
  }

  async write(
    request: {
      endpointUrl?: string | undefined;
      nodeId: string;
      value: unknown;
      verify: boolean;
      dataType?: string | undefined;
      correlationId?: string | undefined;
      actor?: string | undefined;
    },
    signal?: AbortSignal,
  ): Promise<unknown> {
    const session = this.requireSession(request.endpointUrl);
    const base = {
      actor: request.actor,
      endpointUrl: session.spec.endpointUrl,
      nodeId: request.nodeId,
      requested: request.value ?? null,
      correlationId: request.correlationId,
    };
    try {
      const outcome = await session.execute(
        'write',
        (live) =>
          writeValue(this.options.libs.client, live, request.nodeId, request.value, request.verify, request.dataType),
        signal,
      );
      this.audit({
        ...base,
        before: outcome.before ?? null,
        after: outcome.after ?? null,
        statusCode: outcome.statusCode,
        dataType: outcome.dataType,
        ok: outcome.ok,
        readBackMatches: outcome.readBack?.matches,
      });
      return {
        ok: outcome.ok,
        statusCode: outcome.statusCode,
        dataType: outcome.dataType,
        ...(outcome.readBack ? { readBack: outcome.readBack } : {}),
      };
    } catch (error) {
      const details = (error as { details?: Record<string, unknown> }).details ?? {};
      this.audit({
        ...base,
        before: details['before'] ?? null,
        after: null,
        statusCode: typeof details['statusCode'] === 'string' ? details['statusCode'] : null,
        ok: false,
        error: isCodedError(error) ? error.code : 'OPCUA_BAD_STATUS',
      });
      throw error;
    }
  }

  /**
   * Runs `fn` in one transaction committed with `synchronous = FULL` (fsync'd before we return), on a
   * connection that otherwise runs NORMAL for the telemetry volume. The pragma is per connection and
   * may change between transactions; a FULL commit also syncs the WAL frames written before it.
   */
  private durably(fn: () => void): void {
    const db = this.options.db;
    db.pragma('synchronous = FULL');
    try {
      db.transaction(fn)();
    } finally {
      db.pragma('synchronous = NORMAL');
    }
  }

  /** Queues the audit record of a write (schema: modules/audit `AuditRecordSchema`, see encoding/audit-record.ts). */
  private audit(facts: Omit<WriteAuditFacts, 'id' | 'at'>): void {
    const record = writeAuditRecord({ ...facts, id: `opcua-write:${randomUUID()}`, at: this.now() });
    try {
      this.durably(() =>
        this.options.outbox.append({
          channel: 'audit',
          id: record.sourceMessageId,
          body: record,
          source: 'audit',
          properties: { action: record.action },
        }),
      );
    } catch (error) {
      // the write happened: losing its record must be loud
      this.logger.error('could not queue the audit record of a device write', { error, target: record.target.id });
    }
  }

  async call(
    request: {
      endpointUrl?: string | undefined;
      objectId: string;
      methodId: string;
      inputArguments: readonly unknown[];
    },
    signal?: AbortSignal,
  ): Promise<unknown> {
    const session = this.requireSession(request.endpointUrl);
    return session.execute(
      'call',
      (live) => callMethod(this.options.libs.client, live, request.objectId, request.methodId, request.inputArguments),
      signal,
    );
  }

  async browse(
    request: {
      endpointUrl?: string | undefined;
      nodeId: string;
      direction: 'Forward' | 'Inverse' | 'Both';
      maxReferences: number;
    },
    signal?: AbortSignal,
  ): Promise<unknown> {
    const session = this.requireSession(request.endpointUrl);
    return session.execute(
      'browse',
      (live) => browseNode(this.options.libs.client, live, request.nodeId, request.direction, request.maxReferences),
      signal,
    );
  }

  private watchItem(row: WatchRow): ItemSpec {
    return {
      key: `watch|${row.watch_id}`,
      kind: 'watch',
      nodeId: row.node_id,
      samplingIntervalMs: row.sampling_ms,
      publishingIntervalMs: row.publishing_ms,
      queueSize: row.queue_size,
      discardOldest: true,
      deadband: row.deadband ? (JSON.parse(row.deadband) as ItemSpec['deadband']) : undefined,
    };
  }

  async watch(request: WatchRequest): Promise<{ watchId: string; endpointUrl: string; nodeId: string }> {
    const session = this.requireSession(request.endpointUrl);
    const watchId = request.watchId ?? randomUUID();
    const row: WatchRow = {
      watch_id: watchId,
      endpoint_url: session.spec.endpointUrl,
      node_id: request.nodeId,
      sampling_ms: request.samplingIntervalMs,
      publishing_ms: request.publishingIntervalMs,
      queue_size: request.queueSize,
      deadband: request.deadband ? JSON.stringify(request.deadband) : null,
      seq: this.watches.get(watchId)?.seq ?? 0,
    };
    if (this.watches.has(watchId))
      await this.sessionForUrl(this.watches.get(watchId)?.endpoint_url ?? '')?.removeWatch(`watch|${watchId}`);
    await session.addWatch(this.watchItem(row), { requireConnected: true });
    this.watchStmt.upsert.run({ ...row, created_at: this.now() });
    this.watches.set(watchId, row);
    this.markHealthDirty();
    return { watchId, endpointUrl: session.spec.endpointUrl, nodeId: request.nodeId };
  }

  async unwatch(watchId: string): Promise<{ watchId: string; removed: true }> {
    const row = this.watches.get(watchId);
    if (!row) {
      throw new ConnectorError('OPCUA_WATCH_UNKNOWN', `watch ${watchId} is not active`, {
        details: { watchId, active: [...this.watches.keys()].slice(0, 50) },
      });
    }
    this.watches.delete(watchId);
    this.watchStmt.remove.run(watchId);
    await this.sessionForUrl(row.endpoint_url)?.removeWatch(`watch|${watchId}`);
    this.markHealthDirty();
    return { watchId, removed: true };
  }

  private onWatchValue(spec: EndpointSpec, item: ItemSpec, value: ItemValue): void {
    const watchId = item.key.slice('watch|'.length);
    if (!this.watches.has(watchId)) return;
    try {
      this.durably(() => {
        const seq = this.watchStmt.bump.get(watchId) as number | undefined;
        this.options.outbox.append({
          channel: 'tags',
          id: `${watchId}:${seq ?? 0}`,
          source: `watch:${watchId}`,
          body: {
            endpointUrl: spec.endpointUrl,
            nodeId: item.nodeId,
            value: value.value,
            sourceTimestamp: value.sourceTimestamp?.toISOString() ?? null,
            serverTimestamp: value.serverTimestamp?.toISOString() ?? null,
            ...(value.statusCode === 0 ? {} : { statusCode: value.statusName }),
            watchId,
          },
        });
      });
    } catch (error) {
      this.counter(spec.endpointUrl).valuesDropped += 1;
      this.logger.warn('could not queue a watched value', { watchId, error: errorMessage(error) });
    }
  }

  /** Test and diagnostics helper: the endpoint sessions. */
  endpointStates(): { endpointUrl: string; state: string }[] {
    return [...this.sessions.values()].map((s) => ({ endpointUrl: s.spec.endpointUrl, state: s.state }));
  }
}
