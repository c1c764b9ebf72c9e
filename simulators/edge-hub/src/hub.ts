import type { Logger } from '@takt/edge-kit';
import type { IdentityRegistry } from './identity/registry.js';
import { parseSas } from './identity/sas.js';
import type { BrokerHandlers, ModuleConnection } from './mqtt/broker.js';
import { parseModuleTopic } from './mqtt/topics.js';
import { type EdgeMessage, formatPropertyBag } from './routing/message.js';
import { type Route, endpointKey, parseEndpointKey, routeMessage } from './routing/routes.js';
import type { GroupCommit } from './store/database.js';
import type { MessageQueue } from './store/message-queue.js';
import type { JsonObject, TwinRuleViolation } from './twin/twin-rules.js';
import type { TwinStore, TwinWriteResult } from './twin/twin-store.js';

/** Largest direct-method payload (request or response), 128 KB. */
export const MAX_METHOD_PAYLOAD_BYTES = 128 * 1024;

/** The answer of a direct method, or why there is none (in IoT Hub's HTTP terms). */
export type MethodOutcome =
  | { ok: true; status: number; payload: unknown }
  | { ok: false; httpStatus: 400 | 404 | 413 | 504; errorCode: string; message: string };

/** A direct-method request as IoT Hub takes it. */
export interface MethodRequest {
  methodName: string;
  payload?: unknown;
  responseTimeoutInSeconds?: number;
  connectTimeoutInSeconds?: number;
}

export interface HubOptions {
  deviceId: string;
  hubHostName: string;
  routes: readonly Route[];
  /** `storeAndForwardConfiguration.timeToLiveSecs` (negative = forever). */
  defaultTtlSecs: number;
  identities: IdentityRegistry;
  twins: TwinStore;
  queue: MessageQueue;
  /** The shared write transaction; PUBACKs and twin answers wait for its commit. */
  group: GroupCommit;
  logger: Logger;
  /** QoS 1 deliveries in flight per endpoint. Default 100. */
  deliveryWindow?: number;
  now?: () => number;
}

interface EndpointState {
  connectionId: number;
  /** Sequence numbers delivered on this connection and not yet acknowledged. */
  seqs: Set<number>;
  /** Per priority: the last sequence number sent on this connection. */
  watermark: Map<number, number>;
  /** Stored messages may wait that were not sent on this connection yet. */
  backlog: boolean;
}

interface PendingMethod {
  moduleId: string;
  resolve: (outcome: MethodOutcome) => void;
  timer: NodeJS.Timeout;
}

/** The edgeHub + IoT Hub behaviour: routing, store-and-forward, twins, methods, the cloud sink. */
export class Hub implements BrokerHandlers {
  readonly deviceId: string;
  readonly hubHostName: string;
  readonly #routes: readonly Route[];
  readonly #defaultTtlSecs: number;
  readonly #identities: IdentityRegistry;
  readonly #twins: TwinStore;
  readonly #queue: MessageQueue;
  readonly #group: GroupCommit;
  readonly #log: Logger;
  readonly #window: number;
  readonly #now: () => number;
  readonly #active = new Map<string, ModuleConnection>();
  readonly #inflight = new Map<string, EndpointState>();
  readonly #priorities = new Map<string, Set<number>>();
  readonly #endpointsByModule = new Map<string, Set<string>>();
  readonly #pendingMethods = new Map<string, PendingMethod>();
  readonly #methodWaiters = new Map<string, Set<() => void>>();
  #nextRid = 1;
  #online = true;
  #frozen = false;
  #drainScheduled = false;
  #closed = false;

  constructor(options: HubOptions) {
    this.deviceId = options.deviceId;
    this.hubHostName = options.hubHostName;
    this.#routes = options.routes;
    this.#defaultTtlSecs = options.defaultTtlSecs;
    this.#identities = options.identities;
    this.#twins = options.twins;
    this.#queue = options.queue;
    this.#group = options.group;
    this.#log = options.logger;
    this.#window = options.deliveryWindow ?? 100;
    this.#now = options.now ?? Date.now;
    for (const route of this.#routes) this.#knowEndpoint(endpointKey(route.endpoint), route.priority);
    for (const depth of this.#queue.depths()) this.#knowEndpoint(depth.endpoint, depth.priority);
    // upstream messages held before a restart go out as soon as the emulator is back (it starts online)
    this.#scheduleDrain();
  }

  #knowEndpoint(key: string, priority: number): void {
    let priorities = this.#priorities.get(key);
    if (priorities === undefined) {
      priorities = new Set();
      this.#priorities.set(key, priorities);
    }
    priorities.add(priority);
    const endpoint = parseEndpointKey(key);
    if (endpoint?.kind !== 'module') return;
    let set = this.#endpointsByModule.get(endpoint.moduleId);
    if (set === undefined) {
      set = new Set();
      this.#endpointsByModule.set(endpoint.moduleId, set);
    }
    set.add(key);
  }

  // ---- broker handlers ------------------------------------------------------------------------

  authenticate(deviceId: string, moduleId: string, username: string, password: string) {
    if (deviceId !== this.deviceId) return { ok: false as const, reason: 'unknown device' };
    if (!username.includes(`/${deviceId}/${moduleId}/`))
      return { ok: false as const, reason: 'user name does not match the client id' };
    const refusal = this.#identities.verifyModuleToken(deviceId, moduleId, password, this.#now());
    if (refusal !== undefined) return { ok: false as const, reason: refusal };
    return { ok: true as const };
  }

  whenDurable(done: (error?: Error) => void): void {
    this.#group.whenDurable(done);
  }

  /** Resolves when every write so far is committed. */
  durable(): Promise<void> {
    return this.#group.durable();
  }

  onConnected(connection: ModuleConnection): void {
    const previous = this.#active.get(connection.moduleId);
    this.#active.set(connection.moduleId, connection);
    if (previous !== undefined && previous !== connection && !previous.closed) previous.close();
    this.#log.info('module connected', { moduleId: connection.moduleId, connection: connection.id });
  }

  onDisconnected(connection: ModuleConnection): void {
    if (this.#active.get(connection.moduleId) === connection) this.#active.delete(connection.moduleId);
    this.#log.info('module disconnected', { moduleId: connection.moduleId, connection: connection.id });
  }

  onSubscribed(connection: ModuleConnection, kind: 'twin-res' | 'desired' | 'methods' | 'inputs'): void {
    if (kind === 'desired') this.#twins.markDesiredSubscribed(connection.moduleId);
    if (kind === 'inputs') this.#pumpModule(connection.moduleId);
    if (kind === 'methods') {
      const waiters = this.#methodWaiters.get(connection.moduleId);
      if (waiters !== undefined) for (const wake of [...waiters]) wake();
    }
  }

  onAck(_connection: ModuleConnection, _packetId: number, seq: number): void {
    this.#queue.remove(seq);
    for (const [key, state] of this.#inflight) {
      if (state.seqs.delete(seq)) {
        this.#pumpEndpoint(key);
        break;
      }
    }
  }

  onPublish(connection: ModuleConnection, topic: string, payload: Buffer, _qos: number): Error | undefined {
    const parsed = parseModuleTopic(topic, connection.deviceId, connection.moduleId);
    if (parsed === undefined) return new Error(`topic not allowed: ${topic.slice(0, 200)}`);
    switch (parsed.kind) {
      case 'event':
        this.#route(connection.moduleId, {
          body: payload,
          systemProperties: {
            ...parsed.systemProperties,
            connectionDeviceId: connection.deviceId,
            connectionModuleId: connection.moduleId,
            enqueuedTime: new Date(this.#now()).toISOString(),
          },
          properties: parsed.properties,
        });
        return undefined;
      case 'twin-get': {
        const twin = this.#twins.get(connection.moduleId);
        const body = JSON.stringify({
          desired: { ...twin.desired, $version: twin.desiredVersion },
          reported: { ...twin.reported, $version: twin.reportedVersion },
        });
        this.#send(connection, `$iothub/twin/res/200/?$rid=${encodeURIComponent(parsed.rid)}`, Buffer.from(body));
        return undefined;
      }
      case 'twin-reported': {
        let patch: unknown;
        try {
          patch = JSON.parse(payload.toString('utf8'));
        } catch {
          patch = undefined;
        }
        const result: TwinWriteResult =
          patch === undefined
            ? {
                ok: false,
                violation: {
                  status: 400,
                  errorCode: 400004,
                  message: 'ErrorCode:ArgumentInvalid;The body is not valid JSON',
                  path: '$',
                },
              }
            : this.#twins.patchReported(connection.moduleId, patch, payload.length);
        const rid = encodeURIComponent(parsed.rid);
        if (result.ok) {
          // acknowledged only once committed (the write may share the turn's transaction)
          const topic = `$iothub/twin/res/204/?$rid=${rid}&$version=${result.twin.reportedVersion}`;
          this.#group.whenDurable((error) => {
            if (error === undefined) this.#send(connection, topic, Buffer.alloc(0));
            else
              this.#send(
                connection,
                `$iothub/twin/res/500/?$rid=${rid}`,
                Buffer.from(JSON.stringify({ errorCode: 500001, message: 'ErrorCode:ServerError;store failed' })),
              );
          });
        } else {
          this.#send(
            connection,
            `$iothub/twin/res/${result.violation.status}/?$rid=${rid}`,
            twinErrorBody(result.violation),
          );
        }
        return undefined;
      }
      case 'method-response': {
        const pending = this.#pendingMethods.get(parsed.rid);
        if (pending === undefined || pending.moduleId !== connection.moduleId) return undefined;
        this.#pendingMethods.delete(parsed.rid);
        clearTimeout(pending.timer);
        let body: unknown = null;
        const text = payload.toString('utf8');
        if (payload.length > MAX_METHOD_PAYLOAD_BYTES) {
          pending.resolve({
            ok: false,
            httpStatus: 413,
            errorCode: 'MessageTooLarge',
            message: 'method response payload exceeds 128 KB',
          });
          return undefined;
        }
        if (text.trim().length > 0) {
          try {
            body = JSON.parse(text) as unknown;
          } catch {
            body = text;
          }
        }
        pending.resolve({ ok: true, status: parsed.status, payload: body });
        return undefined;
      }
    }
  }

  // ---- routing and store-and-forward --------------------------------------------------------------

  #route(fromModule: string, message: EdgeMessage): void {
    const targets = routeMessage(
      this.#routes,
      message,
      fromModule,
      message.systemProperties['outputName'],
      this.#defaultTtlSecs,
    );
    if (targets.length === 0) return;
    const seqs = this.#queue.enqueue(targets, message, this.#now());
    targets.forEach((target, i) => {
      if (target.endpoint.kind === 'upstream') {
        this.#scheduleDrain();
        return;
      }
      this.#knowEndpoint(target.key, target.priority);
      const seq = seqs[i] as number;
      // fast path: nothing older is waiting for this endpoint, so this message is next in order
      if (
        !this.#sendDirect(target.key, target.endpoint.moduleId, target.endpoint.input, target.priority, seq, message)
      ) {
        this.#pumpEndpoint(target.key);
      }
    });
  }

  #pumpModule(moduleId: string): void {
    for (const key of this.#endpointsByModule.get(moduleId) ?? []) this.#pumpEndpoint(key);
  }

  /** The delivery state of an endpoint for the module's current connection (reset on a new connection). */
  #stateFor(key: string, moduleId: string): { connection: ModuleConnection; state: EndpointState } | undefined {
    if (this.#frozen || this.#closed) return undefined;
    const connection = this.#active.get(moduleId);
    if (connection === undefined || connection.closed || !connection.inputsSubscribed) return undefined;
    let state = this.#inflight.get(key);
    if (state === undefined || state.connectionId !== connection.id) {
      state = { connectionId: connection.id, seqs: new Set(), watermark: new Map(), backlog: true };
      this.#inflight.set(key, state);
    }
    return { connection, state };
  }

  #sendDirect(
    key: string,
    moduleId: string,
    input: string,
    priority: number,
    seq: number,
    message: EdgeMessage,
  ): boolean {
    const found = this.#stateFor(key, moduleId);
    if (found === undefined) return false;
    const { connection, state } = found;
    if (state.backlog || state.seqs.size >= this.#window) {
      state.backlog = true;
      return false;
    }
    const topic = `devices/${connection.deviceId}/modules/${moduleId}/inputs/${input}/${formatPropertyBag(message)}`;
    if (connection.publish(topic, message.body, 1, seq) === undefined) return false;
    state.seqs.add(seq);
    state.watermark.set(priority, seq);
    return true;
  }

  /**
   * Sends stored messages of an endpoint in (priority, arrival) order while the window has room. Per
   * priority a watermark remembers the last sequence sent on this connection, so each query returns only
   * unsent messages.
   */
  #pumpEndpoint(key: string): void {
    const endpoint = parseEndpointKey(key);
    if (endpoint?.kind !== 'module') return;
    const found = this.#stateFor(key, endpoint.moduleId);
    if (found === undefined) return;
    const { connection, state } = found;
    if (!state.backlog) return;
    let room = this.#window - state.seqs.size;
    if (room <= 0) return;
    const topicPrefix = `devices/${connection.deviceId}/modules/${endpoint.moduleId}/inputs/${endpoint.input}/`;
    const priorities = [...(this.#priorities.get(key) ?? [])].sort((a, b) => a - b);
    const now = this.#now();
    for (const priority of priorities) {
      const rows = this.#queue.peekAfter(key, priority, state.watermark.get(priority) ?? 0, room, now);
      for (const row of rows) {
        if (
          connection.publish(topicPrefix + formatPropertyBag(row.message), row.message.body, 1, row.seq) === undefined
        )
          return;
        state.seqs.add(row.seq);
        state.watermark.set(priority, row.seq);
        room--;
      }
      if (room <= 0) return;
    }
    state.backlog = false;
  }

  #scheduleDrain(): void {
    if (!this.#online || this.#drainScheduled || this.#closed) return;
    this.#drainScheduled = true;
    setImmediate(() => {
      this.#drainScheduled = false;
      if (!this.#online || this.#closed) return;
      const moved = this.#queue.drainUpstream(1000, this.#now());
      if (moved === 1000) this.#scheduleDrain();
    });
  }

  get online(): boolean {
    return this.#online;
  }

  /** The upstream switch: offline holds `$upstream` messages in the store; online drains them. */
  setOnline(online: boolean): void {
    this.#online = online;
    if (online) this.#scheduleDrain();
  }

  get frozen(): boolean {
    return this.#frozen;
  }

  setFrozen(frozen: boolean): void {
    this.#frozen = frozen;
    if (!frozen) for (const moduleId of this.#endpointsByModule.keys()) this.#pumpModule(moduleId);
  }

  /** Deletes expired messages from the store (edgeHub's cleanup task). */
  purgeExpired(): number {
    return this.#queue.purgeExpired(this.#now());
  }

  connectedModules(): { moduleId: string; inputsSubscribed: boolean; methodsSubscribed: boolean }[] {
    return [...this.#active.values()].map((c) => ({
      moduleId: c.moduleId,
      inputsSubscribed: c.inputsSubscribed,
      methodsSubscribed: c.methodsSubscribed,
    }));
  }

  // ---- twins ------------------------------------------------------------------------------------

  /** Applies a service-side desired write and pushes the patch to the module if it listens. */
  writeDesired(moduleId: string, patch: unknown, mode: 'patch' | 'replace'): TwinWriteResult {
    const result =
      mode === 'patch' ? this.#twins.patchDesired(moduleId, patch) : this.#twins.replaceDesired(moduleId, patch);
    if (result.ok && result.desiredPush !== undefined)
      this.pushDesired(moduleId, result.twin.desiredVersion, result.desiredPush);
    return result;
  }

  /** Sends a desired-properties notification to the module's current connection (IoT Hub keeps none for offline modules). */
  pushDesired(moduleId: string, version: number, patch: JsonObject): void {
    const connection = this.#active.get(moduleId);
    if (connection === undefined || !this.#twins.isDesiredSubscribed(moduleId)) return;
    this.#send(
      connection,
      `$iothub/twin/PATCH/properties/desired/?$version=${version}`,
      Buffer.from(JSON.stringify(patch)),
    );
  }

  // ---- direct methods -----------------------------------------------------------------------------

  /** Invokes a module's direct method; waits up to `connectTimeoutInSeconds` for the module to listen. */
  async invokeMethod(moduleId: string, request: MethodRequest): Promise<MethodOutcome> {
    if (
      typeof request.methodName !== 'string' ||
      request.methodName.length === 0 ||
      /[/#+?\s]/.test(request.methodName)
    ) {
      return { ok: false, httpStatus: 400, errorCode: 'ArgumentInvalid', message: 'methodName is missing or invalid' };
    }
    const responseSecs = request.responseTimeoutInSeconds ?? 30;
    const connectSecs = request.connectTimeoutInSeconds ?? 0;
    if (!Number.isFinite(responseSecs) || responseSecs < 5 || responseSecs > 300) {
      return {
        ok: false,
        httpStatus: 400,
        errorCode: 'ArgumentInvalid',
        message: 'responseTimeoutInSeconds must be 5–300',
      };
    }
    if (!Number.isFinite(connectSecs) || connectSecs < 0 || connectSecs > 300) {
      return {
        ok: false,
        httpStatus: 400,
        errorCode: 'ArgumentInvalid',
        message: 'connectTimeoutInSeconds must be 0–300',
      };
    }
    const payload = Buffer.from(JSON.stringify(request.payload ?? null));
    if (payload.length > MAX_METHOD_PAYLOAD_BYTES) {
      return { ok: false, httpStatus: 413, errorCode: 'MessageTooLarge', message: 'method payload exceeds 128 KB' };
    }
    const connection = await this.#waitForMethodListener(moduleId, connectSecs * 1000);
    if (connection === undefined) {
      return {
        ok: false,
        httpStatus: 404,
        errorCode: 'DeviceNotFound',
        message: `Client ${this.deviceId}/${moduleId} not found`,
      };
    }
    const rid = String(this.#nextRid++);
    return new Promise<MethodOutcome>((resolve) => {
      const timer = setTimeout(() => {
        this.#pendingMethods.delete(rid);
        resolve({
          ok: false,
          httpStatus: 504,
          errorCode: 'GatewayTimeout',
          message: 'the module did not answer in time',
        });
      }, responseSecs * 1000);
      this.#pendingMethods.set(rid, { moduleId, resolve, timer });
      this.#send(connection, `$iothub/methods/POST/${request.methodName}/?$rid=${rid}`, payload);
    });
  }

  #waitForMethodListener(moduleId: string, timeoutMs: number): Promise<ModuleConnection | undefined> {
    const ready = (): ModuleConnection | undefined => {
      const c = this.#active.get(moduleId);
      return c !== undefined && !c.closed && c.methodsSubscribed && !this.#frozen ? c : undefined;
    };
    const now = ready();
    if (now !== undefined || timeoutMs <= 0) return Promise.resolve(now);
    return new Promise((resolve) => {
      let waiters = this.#methodWaiters.get(moduleId);
      if (waiters === undefined) {
        waiters = new Set();
        this.#methodWaiters.set(moduleId, waiters);
      }
      const set = waiters;
      const finish = (value: ModuleConnection | undefined): void => {
        clearTimeout(timer);
        set.delete(wake);
        resolve(value);
      };
      const wake = (): void => {
        const c = ready();
        if (c !== undefined || this.#closed) finish(c);
      };
      const timer = setTimeout(() => finish(ready()), timeoutMs);
      set.add(wake);
    });
  }

  /** Checks a caller token of a module-to-module call; returns the calling module id. */
  callerModule(token: string): string | undefined {
    const sas = parseSas(token);
    if (sas === undefined) return undefined;
    const m = /\/devices\/([^/]+)\/modules\/([^/]+)$/.exec(sas.resource);
    if (!m?.[1] || !m[2]) return undefined;
    return this.#identities.verifyModuleToken(m[1], m[2], token, this.#now()) === undefined ? m[2] : undefined;
  }

  #send(connection: ModuleConnection, topic: string, payload: Buffer): void {
    if (this.#frozen) return;
    connection.publish(topic, payload, 0);
  }

  close(): void {
    this.#closed = true;
    this.#group.commit();
    for (const [rid, pending] of this.#pendingMethods) {
      clearTimeout(pending.timer);
      pending.resolve({
        ok: false,
        httpStatus: 504,
        errorCode: 'GatewayTimeout',
        message: 'the emulator is shutting down',
      });
      this.#pendingMethods.delete(rid);
    }
    for (const waiters of this.#methodWaiters.values()) for (const wake of [...waiters]) wake();
  }
}

/** The body IoT Hub sends with a failed twin request (the SDK only looks at `errorCode`). */
export function twinErrorBody(violation: TwinRuleViolation): Buffer {
  return Buffer.from(
    JSON.stringify({
      errorCode: violation.errorCode,
      message: violation.message,
      path: violation.path,
      timestampUtc: new Date().toISOString(),
    }),
  );
}
