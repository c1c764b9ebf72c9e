/**
 * The supervised ModuleClient: the real azure-iot-device ModuleClient over MQTT, made to survive what
 * the SDK does not (notes/edgehub-protocol.md §5–6):
 *
 * - every listener is registered before `open()`, so input messages queued while the module was down
 *   are not acknowledged into the void;
 * - the first `open()` is retried with backoff (the SDK gives up at once when edgeHub is not up yet);
 * - the SDK's own reconnect is switched off (it re-orders and duplicates sends and, after a broker
 *   restart, leaves the twin subscriptions dead): on any disconnect, error or timed-out operation the
 *   client is thrown away and a new one is built, opened, and the full twin is fetched again;
 * - desired patches go through {@link TwinBinder}: stale `$version`s are dropped, every writable
 *   property is acknowledged with the Plug and Play convention;
 * - outputs are sent from the durable {@link Outbox}; inputs are de-duplicated by the {@link Inbox};
 * - direct methods go to typed handlers with payload validation and size limits;
 * - TCP_NODELAY is on.
 */
import { EventEmitter, setMaxListeners } from 'node:events';
import deviceSdk, {
  type DeviceMethodRequest,
  type DeviceMethodResponse,
  type Message,
  type ModuleClient,
  type Twin,
} from 'azure-iot-device';
import mqttTransport from 'azure-iot-device-mqtt';
import type { z } from 'zod';
import { configProblems } from '../config.js';
import { EdgeKitError, errorMessage, isCodedError } from '../errors.js';
import type { Logger } from '../logger.js';
import { sleep, withTimeout } from '../resilience/abort.js';
import { backoffDelayMs } from '../resilience/retry.js';
import type { Inbox } from '../store/inbox.js';
import { type Outbox, type OutboxMessage, OutboxSender } from '../store/outbox.js';
import { type BindResult, TwinBinder, type WritableProperty } from '../twin.js';
import { enableTcpNoDelay } from './tcp-nodelay.js';

const { ModuleClient: SdkModuleClient, Message: SdkMessage } = deviceSdk;
const { Mqtt } = mqttTransport;

/** Direct-method payload limit (IoT Hub and edgeHub: 128 KB). */
export const MAX_METHOD_PAYLOAD_BYTES = 128 * 1024;
/** Reported-properties patch limit (edgeHub rejects a patch over 32,768 bytes). */
export const MAX_REPORTED_BYTES = 32 * 1024;

/** An input message as handlers see it. */
export interface InputMessage {
  input: string;
  /** The sender's message id (what the inbox de-duplicates on). */
  messageId: string | undefined;
  correlationId: string | undefined;
  body: Buffer;
  contentType: string | undefined;
  properties: Record<string, string>;
  /** `$.cdid`/`$.cmid` as edgeHub stamps them, when present. */
  connectionModuleId: string | undefined;
}

/**
 * Handles one input message. Runs inside the inbox transaction: do the message's durable state
 * changes (and outbox appends) synchronously here, so that applying it and remembering its id commit
 * together. Throw to refuse it (it is logged and not remembered).
 */
export type InputHandler = (message: InputMessage) => void;

/** A typed direct method. */
export interface MethodDefinition<S extends z.ZodType = z.ZodType> {
  /** Validates (and defaults) the payload; problems go back as 400 METHOD_PAYLOAD_INVALID. */
  schema?: S;
  handler(payload: z.output<S>, context: { methodName: string; signal: AbortSignal }): unknown;
}

/** Helper that keeps the payload type of a method definition. */
export function defineMethod<S extends z.ZodType>(definition: MethodDefinition<S>): MethodDefinition<S> {
  return definition;
}

export type ModuleConnectionState = 'idle' | 'connecting' | 'connected' | 'disconnected' | 'closed';

export interface SupervisedModuleClientOptions {
  logger: Logger;
  /** Builds a fresh SDK client. Default: `ModuleClient.fromEnvironment(Mqtt)`. */
  createClient?: () => Promise<ModuleClient>;
  /** Messages to send: the outbox channel is the output name. */
  outbox?: Outbox;
  /** De-duplicates inputs; without it every delivery is applied. */
  inbox?: Inbox;
  inputs?: Readonly<Record<string, InputHandler>>;
  methods?: Readonly<Record<string, MethodDefinition>>;
  /** Writable twin properties and what to do with accepted/removed values. */
  twin?: {
    properties: readonly WritableProperty[];
    /** Called after each full twin or patch with what changed; runs before the acks are reported. */
    onChange(result: BindResult): void;
  };
  /** Per operation (twin GET, reported update, send). Default 15,000 ms. */
  operationTimeoutMs?: number;
  /** Reconnect backoff. Defaults 500 ms first window, 30,000 ms cap. */
  reconnectInitialDelayMs?: number;
  reconnectMaxDelayMs?: number;
  /** Messages per send batch from the outbox. Default 50. */
  sendBatchSize?: number;
}

/** Typed lifecycle events. */
export interface ModuleClientEvents {
  connected: [{ attempt: number; twinVersion: number }];
  disconnected: [{ reason: string }];
  reconnecting: [{ attempt: number; delayMs: number }];
  reconnected: [{ attempt: number; twinVersion: number }];
}

const NO_SDK_RETRY = { shouldRetry: () => false, nextRetryTimeout: () => 0 };

/**
 * A supervised IoT Edge module connection. Create it, then `start()`; `close()` is idempotent.
 *
 * @example
 * const edge = new SupervisedModuleClient({ logger, outbox, inbox, inputs: { orders: onOrder }, methods, twin });
 * await lifecycle.add(edge);
 */
export class SupervisedModuleClient extends EventEmitter<ModuleClientEvents> {
  readonly name = 'module-client';
  private readonly logger: Logger;
  private readonly timeoutMs: number;
  private readonly binder: TwinBinder | undefined;
  private client: ModuleClient | undefined;
  private twin: Twin | undefined;
  private generation = 0;
  private connectionState: ModuleConnectionState = 'idle';
  private readonly controller = new AbortController();
  private supervisor: Promise<void> | undefined;
  private sender: OutboxSender | undefined;
  private wakeSupervisor: (() => void) | undefined;
  private everConnected = false;
  private readonly stats = {
    connects: 0,
    inputs: 0,
    duplicates: 0,
    methodCalls: 0,
    lastError: undefined as string | undefined,
  };

  constructor(private readonly options: SupervisedModuleClientOptions) {
    super();
    this.logger = options.logger.child({ component: 'module-client' });
    this.timeoutMs = options.operationTimeoutMs ?? 15_000;
    this.binder = options.twin ? new TwinBinder(options.twin.properties) : undefined;
    // every method call and send in flight listens on this signal; hundreds at once are normal
    setMaxListeners(0, this.controller.signal);
  }

  get state(): ModuleConnectionState {
    return this.connectionState;
  }

  /** The desired `$version` held now. */
  get twinVersion(): number {
    return this.binder?.version ?? 0;
  }

  health(): {
    state: ModuleConnectionState;
    connects: number;
    inputs: number;
    duplicates: number;
    methodCalls: number;
    lastError: string | undefined;
    outbox?: ReturnType<OutboxSender['stats']>;
  } {
    return { state: this.connectionState, ...this.stats, ...(this.sender ? { outbox: this.sender.stats() } : {}) };
  }

  /** Starts supervising; resolves once the first connection is up and the twin was applied. */
  async start(): Promise<void> {
    enableTcpNoDelay();
    if (this.options.outbox) {
      this.sender = new OutboxSender(this.options.outbox, {
        logger: this.logger,
        batchSize: this.options.sendBatchSize ?? 50,
        initialRetryDelayMs: 100,
        maxRetryDelayMs: 5_000,
        send: (batch, signal) => this.sendBatch(batch, signal),
      });
    }
    const firstConnection = new Promise<void>((resolve) => this.once('connected', () => resolve()));
    this.supervisor = this.supervise(this.controller.signal);
    await Promise.race([firstConnection, this.supervisor]);
    this.sender?.start();
  }

  /** Stops the sender, closes the SDK client; idempotent. */
  async close(): Promise<void> {
    if (this.connectionState === 'closed') return;
    this.controller.abort();
    this.wakeSupervisor?.();
    await this.sender?.close();
    await this.supervisor;
    await this.disposeClient();
    this.connectionState = 'closed';
  }

  /**
   * Calls a direct method of another module through edgeHub (HTTPS), with both SDK timeouts set (an
   * unset one means no timeout at all in the SDK).
   */
  async invokeModuleMethod(
    deviceId: string,
    moduleId: string,
    methodName: string,
    payload: unknown,
    options: { responseTimeoutS?: number; connectTimeoutS?: number } = {},
  ): Promise<{ status: number; payload: unknown }> {
    const client = this.client;
    if (!client || this.connectionState !== 'connected') {
      throw new EdgeKitError('NOT_CONNECTED', `cannot call ${moduleId}.${methodName}: not connected to edgeHub`);
    }
    const responseTimeoutInSeconds = options.responseTimeoutS ?? 30;
    const connectTimeoutInSeconds = options.connectTimeoutS ?? 5;
    const result = await withTimeout(
      `method ${moduleId}.${methodName}`,
      (responseTimeoutInSeconds + connectTimeoutInSeconds + 5) * 1000,
      () =>
        client.invokeMethod(deviceId, moduleId, {
          methodName,
          payload,
          responseTimeoutInSeconds,
          connectTimeoutInSeconds,
        }),
      this.controller.signal,
    );
    return { status: result.status, payload: result.payload as unknown };
  }

  /** Sends a reported-properties patch (size-checked, with a timeout). */
  async reportProperties(patch: Record<string, unknown>): Promise<void> {
    const bytes = Buffer.byteLength(JSON.stringify(patch));
    if (bytes > MAX_REPORTED_BYTES) {
      throw new EdgeKitError(
        'MESSAGE_TOO_LARGE',
        `reported patch is ${bytes} bytes; the limit is ${MAX_REPORTED_BYTES}`,
        {
          details: { bytes, limit: MAX_REPORTED_BYTES },
        },
      );
    }
    const twin = this.twin;
    if (!twin) throw new EdgeKitError('NOT_CONNECTED', 'cannot report properties: not connected to edgeHub');
    await withTimeout(
      'reported properties update',
      this.timeoutMs,
      () =>
        new Promise<void>((resolve, reject) => {
          // the SDK types `reported` as any
          const reported = twin.properties.reported as {
            update(patch: unknown, done: (error?: Error) => void): void;
          };
          reported.update(patch, (error?: Error) => (error ? reject(error) : resolve()));
        }),
    );
  }

  private async supervise(signal: AbortSignal): Promise<void> {
    let attempt = 0;
    while (!signal.aborted) {
      attempt += 1;
      const generation = ++this.generation;
      this.connectionState = 'connecting';
      let lost: Promise<string>;
      try {
        ({ lost } = await this.connect(generation, signal));
        const twinVersion = this.binder?.version ?? 0;
        this.connectionState = 'connected';
        this.stats.connects += 1;
        this.logger.info(this.everConnected ? 'reconnected to edgeHub' : 'connected to edgeHub', {
          attempt,
          twinVersion,
        });
        this.emit('connected', { attempt, twinVersion });
        if (this.everConnected) this.emit('reconnected', { attempt, twinVersion });
        this.everConnected = true;
        attempt = 0;
      } catch (error) {
        if (signal.aborted) break;
        this.stats.lastError = errorMessage(error);
        await this.disposeClient();
        const delayMs = backoffDelayMs(attempt, {
          initialDelayMs: this.options.reconnectInitialDelayMs ?? 500,
          maxDelayMs: this.options.reconnectMaxDelayMs ?? 30_000,
        });
        this.logger.warn('could not connect to edgeHub; retrying', { attempt, delayMs, error });
        this.emit('reconnecting', { attempt, delayMs });
        await sleep(delayMs, signal).catch(() => undefined);
        continue;
      }
      // connected: wait until the connection is lost or we are closing
      const reason = await Promise.race([
        lost,
        new Promise<string>((resolve) => {
          this.wakeSupervisor = () => resolve('closing');
          if (signal.aborted) resolve('closing');
        }),
      ]);
      this.wakeSupervisor = undefined;
      if (signal.aborted) break;
      this.connectionState = 'disconnected';
      this.logger.warn('lost the connection to edgeHub; rebuilding the client', { reason });
      this.emit('disconnected', { reason });
      await this.disposeClient();
    }
  }

  /** Builds, wires and opens one SDK client; resolves with a promise of the reason it is later lost. */
  private async connect(generation: number, signal: AbortSignal): Promise<{ lost: Promise<string> }> {
    const client = await (this.options.createClient ?? (() => SdkModuleClient.fromEnvironment(Mqtt)))();
    this.client = client;
    client.setRetryPolicy(NO_SDK_RETRY);
    let markLost: (reason: string) => void = () => undefined;
    const lost = new Promise<string>((resolve) => (markLost = resolve));
    const current = () => generation === this.generation && !signal.aborted;
    client.on('disconnect', () => {
      if (current()) markLost('disconnected');
    });
    client.on('error', (error: Error) => {
      this.logger.warn('SDK client error', { error });
      if (current()) markLost(`error: ${error.message}`);
    });
    this.lostCurrent = (reason) => {
      if (current()) markLost(reason);
    };
    // Registered before open(): messages queued for us are delivered right at CONNECT.
    if (this.options.inputs && Object.keys(this.options.inputs).length > 0) {
      client.on('inputMessage', (input: string, message: Message) => {
        if (current()) this.onInput(client, input, message);
      });
    }
    await withTimeout('open', this.timeoutMs, () => client.open(), signal);
    for (const [name, definition] of Object.entries(this.options.methods ?? {})) {
      client.onMethod(name, (request, response) => {
        if (request && response) void this.onMethod(name, definition, request, response);
      });
    }
    if (this.binder) {
      const twin = await withTimeout('twin GET', this.timeoutMs, () => client.getTwin(), signal);
      this.twin = twin;
      await this.applyTwin(this.binder.applyFull(twin.properties.desired), 'full twin');
      twin.on('properties.desired', (delta: unknown) => {
        if (!current() || !this.binder) return;
        const result = this.binder.applyPatch(delta);
        if (result.status === 'stale') return; // includes the SDK's replay of the full document
        void this.applyTwin(result, 'desired patch').then(() => {
          if (result.status === 'gap') this.lostCurrent?.('missed a desired patch; fetching the full twin');
        });
      });
    }
    return { lost };
  }

  private lostCurrent: ((reason: string) => void) | undefined;

  private async applyTwin(result: BindResult, what: string): Promise<void> {
    if (result.status === 'invalid') {
      this.logger.warn('ignored a twin document without $version', { what, code: 'TWIN_PATCH_INVALID' });
      return;
    }
    try {
      this.options.twin?.onChange(result);
    } catch (error) {
      this.logger.error('applying desired properties failed', { what, error });
    }
    if (result.rejected.length > 0) {
      this.logger.warn('rejected desired properties', {
        what,
        rejected: result.rejected.map((r) => ({ property: r.property, key: r.key, problems: r.problems.slice(0, 5) })),
      });
    }
    if (Object.keys(result.reported).length === 0) return;
    try {
      await this.reportProperties(result.reported);
    } catch (error) {
      this.logger.warn('could not report property acknowledgements; will re-ack after reconnect', { error });
      this.lostCurrent?.('reported properties update failed');
    }
  }

  private onInput(client: ModuleClient, input: string, message: Message): void {
    const handler = this.options.inputs?.[input];
    const props: Record<string, string> = {};
    for (let i = 0; i < message.properties.count(); i += 1) {
      const item = message.properties.getItem(i);
      if (item) props[item.key] = String(item.value);
    }
    const data = message.data as unknown;
    const body = Buffer.isBuffer(data)
      ? data
      : Buffer.from(typeof data === 'string' ? data : JSON.stringify(data ?? null));
    const inputMessage: InputMessage = {
      input,
      messageId: message.messageId || undefined,
      correlationId: message.correlationId || undefined,
      body,
      contentType: message.contentType ?? undefined,
      properties: props,
      connectionModuleId: props['$.cmid'],
    };
    client.complete(message, () => undefined);
    if (!handler) {
      this.logger.warn('message on an input this module does not handle', { input, messageId: inputMessage.messageId });
      return;
    }
    this.stats.inputs += 1;
    try {
      const inbox = this.options.inbox;
      if (inbox && inputMessage.messageId) {
        const outcome = inbox.receive(`${input}:${inputMessage.messageId}`, () => handler(inputMessage));
        if (outcome.duplicate) {
          this.stats.duplicates += 1;
          this.logger.debug('duplicate input ignored', { input, messageId: inputMessage.messageId });
        }
      } else {
        handler(inputMessage);
      }
    } catch (error) {
      this.logger.error('input message refused by its handler', { input, messageId: inputMessage.messageId, error });
    }
  }

  private async onMethod(
    name: string,
    definition: MethodDefinition,
    request: DeviceMethodRequest,
    response: DeviceMethodResponse,
  ): Promise<void> {
    this.stats.methodCalls += 1;
    const reply = (status: number, payload: unknown): Promise<void> =>
      new Promise((resolve) => {
        response.send(status, payload, (error?: Error) => {
          if (error) this.logger.warn('could not send a method response', { method: name, error });
          resolve();
        });
      });
    const raw: unknown = request.payload;
    const size = raw === undefined ? 0 : Buffer.byteLength(JSON.stringify(raw));
    if (size > MAX_METHOD_PAYLOAD_BYTES) {
      await reply(
        413,
        new EdgeKitError(
          'MESSAGE_TOO_LARGE',
          `payload is ${size} bytes; the limit is ${MAX_METHOD_PAYLOAD_BYTES}`,
        ).toJSON(),
      );
      return;
    }
    let payload: unknown = raw ?? {};
    if (definition.schema) {
      const parsed = definition.schema.safeParse(payload);
      if (!parsed.success) {
        const problems = configProblems(parsed.error);
        await reply(
          400,
          new EdgeKitError(
            'METHOD_PAYLOAD_INVALID',
            `${name}: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`,
            {
              details: { problems },
            },
          ).toJSON(),
        );
        return;
      }
      payload = parsed.data;
    }
    try {
      const result = await definition.handler(payload, { methodName: name, signal: this.controller.signal });
      await reply(200, result ?? {});
    } catch (error) {
      if (isCodedError(error)) {
        const body = {
          code: error.code,
          message: error.message,
          retryable: error.retryable,
          ...('details' in error && error.details !== undefined ? { details: error.details } : {}),
        };
        await reply(error.retryable ? 503 : 400, body);
        return;
      }
      this.logger.error('method handler failed', { method: name, error });
      await reply(500, new EdgeKitError('METHOD_HANDLER_FAILED', `${name} failed: ${errorMessage(error)}`).toJSON());
    }
  }

  private async sendBatch(batch: readonly OutboxMessage[], signal: AbortSignal): Promise<void> {
    for (const item of batch) {
      const client = this.client;
      if (!client || this.connectionState !== 'connected') {
        throw new EdgeKitError('NOT_CONNECTED', 'not connected to edgeHub; the message stays in the outbox');
      }
      const message = new SdkMessage(item.body);
      message.messageId = item.id;
      if (item.contentType === 'application/json') {
        message.contentType = 'application/json';
        message.contentEncoding = 'utf-8';
      }
      for (const [key, value] of Object.entries(item.properties)) message.properties.add(key, value);
      message.properties.add('takt-source', item.source);
      message.properties.add('takt-seq', String(item.sourceSeq));
      try {
        await withTimeout(
          `send to ${item.channel}`,
          this.timeoutMs,
          () => client.sendOutputEvent(item.channel, message),
          signal,
        );
      } catch (error) {
        // A send that times out means a half-open or frozen connection: rebuild it.
        if (isCodedError(error, 'OPERATION_TIMEOUT')) this.lostCurrent?.('send timed out');
        throw isCodedError(error)
          ? error
          : new EdgeKitError('NOT_CONNECTED', `send to ${item.channel} failed: ${errorMessage(error)}`, {
              cause: error,
            });
      }
    }
  }

  private async disposeClient(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.twin = undefined;
    this.lostCurrent = undefined;
    if (!client) return;
    client.removeAllListeners();
    client.on('error', () => undefined);
    await withTimeout('close SDK client', 5_000, () => client.close().then(() => undefined)).catch((error: unknown) => {
      this.logger.debug('SDK client did not close cleanly', { error });
    });
  }
}
