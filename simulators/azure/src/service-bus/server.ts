import { randomBytes, randomUUID } from 'node:crypto';
import type { Server, Socket } from 'node:net';
import rhea, { type Connection, type Delivery, type EventContext, type Receiver, type Sender } from 'rhea';
import { SimAzureError } from '../errors.js';
import { Broker, type MessageStore, type ServiceBusEntities, type StoredMessage } from './broker.js';
import { verifySasToken } from './sas.js';
import type { FilterInput, Scalar } from './sql-filter.js';

export interface ServiceBusEmulatorOptions {
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  entities: ServiceBusEntities;
  keyName?: string;
  key?: string;
  /** Default 10 minutes (the service's default `duplicateDetectionHistoryTimeWindow`). */
  duplicateDetectionWindowMs?: number;
}

export interface ServiceBusEmulator {
  /** `Endpoint=sb://<host>:<port>;SharedAccessKeyName=…;SharedAccessKey=…;UseDevelopmentEmulator=true`. */
  readonly connectionString: string;
  readonly host: string;
  readonly port: number;
  readonly broker: Broker;
  /** Stops listening and cuts every connection; queues keep their messages. */
  pause(): Promise<void>;
  resume(): Promise<void>;
  close(): Promise<void>;
}

const BATCH_FORMAT = 0x80013700;
const MAX_MESSAGE_BYTES = 262_144;

interface AmqpMessage {
  message_id?: unknown;
  correlation_id?: unknown;
  reply_to?: string;
  subject?: string;
  to?: string;
  group_id?: string;
  content_type?: string;
  application_properties?: Record<string, unknown>;
  body?: unknown;
}

type RheaMessage = Parameters<Sender['send']>[0];
/** Delivery outcomes (rhea defines them at run time; its typings omit them). Outgoing deliveries only have `update`. */
interface Outcome {
  described(): object;
}
const outcomeFactory = rhea.message as unknown as {
  accepted(): Outcome;
  rejected(fields: { error?: { condition: string; description?: string } }): Outcome;
  modified(fields: { undeliverable_here?: boolean; delivery_failed?: boolean }): Outcome;
};
const outcomes = {
  accepted: (): object => outcomeFactory.accepted().described(),
  rejected: (fields: { error?: { condition: string; description?: string } }): object =>
    outcomeFactory.rejected(fields).described(),
  modified: (fields: { undeliverable_here?: boolean }): object => outcomeFactory.modified(fields).described(),
};
type SourceArg = Parameters<Sender['set_source']>[0];
/** rhea keeps the attach frame it will send on `local` (not in its typings). */
interface LinkLocal {
  local: { attach: Record<string, unknown> };
}

interface Terminus {
  address?: string;
  filter?: Record<string, unknown>;
}

/** The GUID string the SDK shows for a delivery tag (.NET byte order for the first 8 bytes). */
function lockTokenOfTag(tag: Buffer): string {
  const b = Buffer.from([
    tag[3] ?? 0,
    tag[2] ?? 0,
    tag[1] ?? 0,
    tag[0] ?? 0,
    tag[5] ?? 0,
    tag[4] ?? 0,
    tag[7] ?? 0,
    tag[6] ?? 0,
    ...tag.subarray(8, 16),
  ]);
  return uuidString(b);
}

function uuidString(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function idString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  if (Buffer.isBuffer(value)) return value.length === 16 ? uuidString(value) : value.toString('hex');
  return undefined;
}

function filterInput(msg: AmqpMessage, messageId: string): FilterInput {
  const scalar = (v: unknown): Scalar =>
    typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? v : undefined;
  return {
    applicationProperties: msg.application_properties ?? {},
    system: {
      messageId,
      subject: scalar(msg.subject),
      sessionId: scalar(msg.group_id),
      correlationId: idString(msg.correlation_id),
      to: scalar(msg.to),
      replyTo: scalar(msg.reply_to),
      contentType: scalar(msg.content_type),
    },
  };
}

/** The rhea Section of a batch body: one or several data sections, each an encoded AMQP message. */
function batchParts(body: unknown): Buffer[] {
  const section = body as { content?: unknown; multiple?: boolean } | undefined;
  const content = section?.content;
  if (section?.multiple && Array.isArray(content)) return content.filter((c): c is Buffer => Buffer.isBuffer(c));
  return Buffer.isBuffer(content) ? [content] : [];
}

interface Consumer {
  sender: Sender;
  store: MessageStore;
  peekLock: boolean;
  /** Set for a session receiver: it gets only this session's messages, and holds the session lock. */
  sessionId: string | undefined;
}

const SESSION_FILTER = 'com.microsoft:session-filter';

/** .NET ticks (100 ns since 0001-01-01) as the 8-byte big-endian long the SDK reads with Long.fromBytesBE. */
function ticks(ms: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt(ms) * 10_000n + 621_355_968_000_000_000n);
  return b;
}

/**
 * A Service Bus namespace emulator on AMQP 1.0 (rhea): SASL ANONYMOUS, CBS put-token with SAS
 * verification, queues and topics with subscriptions and SQL-ish rules, peek-lock with lock tokens,
 * complete / abandon / dead-letter / lock expiry, `$management` renew-lock and update-disposition,
 * batches, duplicate detection. Wire facts: ../shared/notes/azure-services-local.md §1.
 * Session receivers (`acceptSession`, `acceptNextSession`) get only their session's messages and hold its
 * lock while the link is open (renew-session-lock, get/set-session-state on `$management`).
 * Not emulated: scheduling, deferral, rule management, peek.
 */
export async function startServiceBusEmulator(options: ServiceBusEmulatorOptions): Promise<ServiceBusEmulator> {
  const host = options.host ?? '127.0.0.1';
  const keyName = options.keyName ?? 'RootManageSharedAccessKey';
  const key = options.key ?? randomBytes(32).toString('base64');
  const broker = new Broker(options.entities, options.duplicateDetectionWindowMs ?? 10 * 60_000);
  const consumers = new Set<Consumer>();
  /** Per connection: reply links by name (CBS and $management answer on the link named `reply_to`). */
  const replyLinks = new WeakMap<Connection, Map<string, { sender: Sender; pending: object[] }>>();
  const sockets = new Set<Socket>();

  const container = rhea.create_container({ id: 'takt-service-bus-emulator' });

  const replyOn = (connection: Connection, name: string | undefined, message: object): void => {
    if (!name) return;
    const link = replyLinks.get(connection)?.get(name);
    if (!link) return;
    if (link.sender.sendable() && link.pending.length === 0) link.sender.send(message as RheaMessage);
    else link.pending.push(message);
  };

  const sessionKey = (store: MessageStore, sessionId: string): string => `${store.path}\u0000${sessionId}`;
  const sessionLocks = new Map<string, { consumer: Consumer; lockedUntil: number }>();
  const sessionStates = new Map<string, unknown>();

  const dispatch = (store: MessageStore): void => {
    for (const consumer of consumers) {
      if (consumer.store !== store) continue;
      // bounded: every round removes one message from `available`
      while (consumer.sender.sendable() && store.available.length > 0) {
        const index =
          consumer.sessionId === undefined
            ? store.available.findIndex(
                (m) => m.sessionId === undefined || !sessionLocks.has(sessionKey(store, m.sessionId)),
              )
            : store.available.findIndex((m) => m.sessionId === consumer.sessionId);
        if (index < 0) break;
        const [message] = store.available.splice(index, 1);
        if (message) deliver(consumer, message);
      }
    }
  };

  const deliver = (consumer: Consumer, message: StoredMessage): void => {
    const now = Date.now();
    message.deliveryCount += 1;
    const tag = randomBytes(16);
    if (consumer.peekLock) {
      message.lockToken = lockTokenOfTag(tag);
      message.lockedUntil = now + consumer.store.lockDurationMs;
      consumer.store.locked.set(message.lockToken, message);
    } else {
      consumer.store.completedCount += 1;
    }
    const annotations = {
      ...((message.amqp['message_annotations'] as Record<string, unknown> | undefined) ?? {}),
      'x-opt-sequence-number': rhea.types.wrap_long(message.sequenceNumber),
      'x-opt-enqueued-time': new Date(message.enqueuedAt),
      ...(consumer.peekLock ? { 'x-opt-locked-until': new Date(message.lockedUntil) } : {}),
    };
    const out = {
      ...message.amqp,
      message_id: message.messageId,
      delivery_count: message.deliveryCount - 1,
      message_annotations: annotations,
    };
    consumer.sender.send(out as unknown as RheaMessage, tag);
  };

  const settleOutcome = (
    consumer: Consumer,
    delivery: Delivery,
    outcome: 'complete' | 'abandon' | 'deadletter',
    info?: { reason?: string; description?: string },
  ): void => {
    const tag = Buffer.isBuffer(delivery.tag) ? delivery.tag : Buffer.from(delivery.tag);
    const token = lockTokenOfTag(tag);
    const settled = settleByToken(consumer.store, token, outcome, info);
    if (!settled) {
      delivery.update(
        true,
        outcomes.rejected({
          error: { condition: 'com.microsoft:message-lock-lost', description: 'the lock expired or is unknown' },
        }),
      );
      return;
    }
    if (outcome === 'complete') delivery.update(true, outcomes.accepted());
    else if (outcome === 'abandon') delivery.update(true, outcomes.modified({ undeliverable_here: false }));
    else delivery.update(true, outcomes.rejected({}));
  };

  const settleByToken = (
    store: MessageStore,
    token: string,
    outcome: 'complete' | 'abandon' | 'deadletter',
    info?: { reason?: string; description?: string },
  ): boolean => {
    const message = store.locked.get(token);
    if (!message || message.lockedUntil < Date.now()) {
      if (message) {
        store.locked.delete(token);
        store.requeue(message);
      }
      return false;
    }
    store.locked.delete(token);
    if (outcome === 'complete') store.completedCount += 1;
    else if (outcome === 'abandon') store.requeue(message);
    else store.moveToDeadLetter(message, info?.reason ?? 'DeadLetteredByReceiver', info?.description);
    setImmediate(() => {
      dispatch(store);
      if (store.deadLetter) dispatch(store.deadLetter);
    });
    return true;
  };

  const onCbs = (context: EventContext): void => {
    const msg = context.message as AmqpMessage | undefined;
    if (!msg || !context.connection) return;
    const props = msg.application_properties ?? {};
    const type = text(props['type']);
    const token = typeof msg.body === 'string' ? msg.body : '';
    let status = 202;
    let description = 'Accepted';
    if (type === 'servicebus.windows.net:sastoken') {
      const verdict = verifySasToken(token, { [keyName]: key }, Date.now());
      if (!verdict.ok) {
        status = 401;
        description = verdict.reason;
      }
    } else if (type !== 'jwt' || token.length === 0) {
      status = 401;
      description = `unsupported token type ${type}`;
    }
    replyOn(context.connection, msg.reply_to, {
      correlation_id: msg.message_id,
      application_properties: { 'status-code': status, 'status-description': description },
    });
  };

  const onManagement = (context: EventContext, entity: string): void => {
    const msg = context.message as AmqpMessage | undefined;
    if (!msg || !context.connection) return;
    const props = msg.application_properties ?? {};
    const operation = text(props['operation']);
    const body = (msg.body ?? {}) as Record<string, unknown>;
    const store = broker.store(entity);
    const answer = (status: number, responseBody?: unknown, description = 'OK'): void =>
      replyOn(context.connection, msg.reply_to, {
        correlation_id: msg.message_id,
        application_properties: { 'status-code': status, 'status-description': description },
        ...(responseBody === undefined ? {} : { body: responseBody }),
      });
    if (!store) {
      answer(404, undefined, `entity ${entity} not found`);
      return;
    }
    const tokens = (Array.isArray(body['lock-tokens']) ? (body['lock-tokens'] as unknown[]) : [])
      .map((t) => idString(t))
      .filter((t): t is string => t !== undefined);
    if (operation === 'com.microsoft:renew-lock') {
      const expirations: Date[] = [];
      for (const token of tokens) {
        const message = store.locked.get(token);
        if (!message || message.lockedUntil < Date.now()) {
          answer(410, undefined, 'lock lost');
          return;
        }
        message.lockedUntil = Date.now() + store.lockDurationMs;
        expirations.push(new Date(message.lockedUntil));
      }
      answer(200, { expirations });
      return;
    }
    if (operation === 'com.microsoft:update-disposition') {
      const disposition = text(body['disposition-status']);
      const outcome =
        disposition === 'completed'
          ? 'complete'
          : disposition === 'abandoned'
            ? 'abandon'
            : disposition === 'suspended'
              ? 'deadletter'
              : undefined;
      if (!outcome) {
        answer(400, undefined, `disposition ${disposition} is not emulated`);
        return;
      }
      for (const token of tokens) {
        const ok = settleByToken(store, token, outcome, {
          reason: typeof body['deadletter-reason'] === 'string' ? body['deadletter-reason'] : 'DeadLetteredByReceiver',
          ...(typeof body['deadletter-description'] === 'string'
            ? { description: body['deadletter-description'] }
            : {}),
        });
        if (!ok) {
          answer(410, undefined, 'lock lost');
          return;
        }
      }
      answer(200, {});
      return;
    }
    const sessionId = typeof body['session-id'] === 'string' ? body['session-id'] : undefined;
    if (operation === 'com.microsoft:renew-session-lock' && sessionId !== undefined) {
      const lock = sessionLocks.get(sessionKey(store, sessionId));
      if (!lock) {
        answer(410, undefined, 'session lock lost');
        return;
      }
      lock.lockedUntil = Date.now() + store.lockDurationMs;
      answer(200, { expiration: new Date(lock.lockedUntil) });
      return;
    }
    if (operation === 'com.microsoft:get-session-state' && sessionId !== undefined) {
      answer(200, { 'session-state': sessionStates.get(sessionKey(store, sessionId)) ?? null });
      return;
    }
    if (operation === 'com.microsoft:set-session-state' && sessionId !== undefined) {
      sessionStates.set(sessionKey(store, sessionId), body['session-state'] ?? null);
      answer(200, {});
      return;
    }
    if (operation === 'com.microsoft:peek-message') {
      answer(204);
      return;
    }
    answer(400, undefined, `operation ${operation} is not emulated`);
  };

  const onPublish = (context: EventContext, path: string): void => {
    const raw = context.message as unknown;
    const format = (context as { format?: number }).format;
    const messages: AmqpMessage[] = [];
    if (format === BATCH_FORMAT && Buffer.isBuffer(raw)) {
      const outer = rhea.message.decode(raw) as AmqpMessage;
      for (const part of batchParts(outer.body)) messages.push(rhea.message.decode(part) as AmqpMessage);
    } else if (raw && typeof raw === 'object' && !Buffer.isBuffer(raw)) {
      messages.push(raw);
    }
    const now = Date.now();
    for (const msg of messages) {
      const messageId = idString(msg.message_id) ?? randomUUID();
      const amqp: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(msg as Record<string, unknown>)) {
        if (typeof v !== 'function' && k !== 'header' && k !== 'delivery_annotations') amqp[k] = v;
      }
      broker.publish(path, amqp, messageId, filterInput(msg, messageId), now);
    }
    for (const store of broker.stores.values()) if (store.available.length > 0) dispatch(store);
  };

  container.on('receiver_open', (context: EventContext) => {
    const receiver = context.receiver as Receiver;
    const target = (receiver.target ?? {}) as Terminus;
    const address = target.address ?? '';
    receiver.set_target({ address });
    receiver.set_source(receiver.source ?? {});
    const local = (receiver as unknown as LinkLocal).local;
    local.attach['snd_settle_mode'] = (receiver as unknown as { snd_settle_mode?: number }).snd_settle_mode;
    local.attach['rcv_settle_mode'] = 0;
    local.attach['max_message_size'] = MAX_MESSAGE_BYTES;
    if (address === '$cbs') {
      receiver.on('message', onCbs);
      return;
    }
    if (address.endsWith('/$management')) {
      const entity = address.slice(0, -'/$management'.length);
      receiver.on('message', (ctx: EventContext) => onManagement(ctx, entity));
      return;
    }
    if (!broker.hasTarget(address)) {
      receiver.close({
        condition: 'amqp:not-found',
        description: `The messaging entity '${address}' could not be found.`,
      });
      return;
    }
    receiver.on('message', (ctx: EventContext) => onPublish(ctx, address));
  });

  container.on('sender_open', (context: EventContext) => {
    const sender = context.sender as Sender;
    const connection = context.connection;
    const source = (sender.source ?? {}) as Terminus;
    const address = source.address ?? '';
    sender.set_source(source as SourceArg);
    sender.set_target(sender.target ?? {});
    const remote = sender as unknown as { snd_settle_mode?: number; rcv_settle_mode?: number };
    const local = (sender as unknown as LinkLocal).local;
    local.attach['snd_settle_mode'] = remote.snd_settle_mode;
    local.attach['rcv_settle_mode'] = remote.rcv_settle_mode;
    if (address === '$cbs' || address.endsWith('/$management')) {
      const links = replyLinks.get(connection) ?? new Map<string, { sender: Sender; pending: object[] }>();
      replyLinks.set(connection, links);
      const entry = { sender, pending: [] as object[] };
      links.set(sender.name, entry);
      sender.on('sendable', () => {
        while (sender.sendable() && entry.pending.length > 0) sender.send(entry.pending.shift() as RheaMessage);
      });
      return;
    }
    const store = broker.store(address);
    if (!store) {
      sender.close({
        condition: 'amqp:not-found',
        description: `The messaging entity '${address}' could not be found.`,
      });
      return;
    }
    let sessionId: string | undefined;
    const filter = source.filter ?? {};
    if (SESSION_FILTER in filter) {
      const requested = filter[SESSION_FILTER];
      if (typeof requested === 'string') {
        sessionId = requested;
      } else {
        sessionId = store.available.find(
          (m) => m.sessionId !== undefined && !sessionLocks.has(sessionKey(store, m.sessionId)),
        )?.sessionId;
      }
      if (sessionId === undefined || sessionLocks.has(sessionKey(store, sessionId))) {
        // As the service does: the link attaches without a session filter, and the SDK reports
        // SessionCannotBeLocked ("no unlocked sessions available" / "locked by another receiver").
        sender.set_source({ ...source, filter: {} } as SourceArg);
        return;
      }
      const lockedUntil = Date.now() + store.lockDurationMs;
      sender.set_source({ ...source, filter: { [SESSION_FILTER]: sessionId } } as SourceArg);
      local.attach['properties'] = { 'com.microsoft:locked-until-utc': rhea.types.wrap_long(ticks(lockedUntil)) };
    }
    const consumer: Consumer = { sender, store, peekLock: remote.snd_settle_mode !== 1, sessionId };
    if (sessionId !== undefined) {
      sessionLocks.set(sessionKey(store, sessionId), { consumer, lockedUntil: Date.now() + store.lockDurationMs });
    }
    consumers.add(consumer);
    const forget = (): void => {
      consumers.delete(consumer);
      forgetters.delete(consumer);
      if (sessionId !== undefined && sessionLocks.get(sessionKey(store, sessionId))?.consumer === consumer) {
        sessionLocks.delete(sessionKey(store, sessionId));
        setImmediate(() => dispatch(store));
      }
    };
    sender.on('sender_error', forget);
    forgetters.set(consumer, { connection, forget });
    sender.on('sender_close', forget);
    sender.on('sendable', () => dispatch(store));
    sender.on('sender_draining', () => {
      dispatch(store);
      sender.set_drained(true);
    });
    sender.on('accepted', (ctx: EventContext) => settleOutcome(consumer, ctx.delivery as Delivery, 'complete'));
    sender.on('released', (ctx: EventContext) => settleOutcome(consumer, ctx.delivery as Delivery, 'abandon'));
    sender.on('modified', (ctx: EventContext) => {
      const state = (ctx.delivery as Delivery).remote_state as { undeliverable_here?: boolean } | undefined;
      if (state?.undeliverable_here) {
        (ctx.delivery as Delivery).update(
          true,
          outcomes.rejected({
            error: { condition: 'com.microsoft:not-emulated', description: 'deferral is not emulated' },
          }),
        );
        return;
      }
      settleOutcome(consumer, ctx.delivery as Delivery, 'abandon');
    });
    sender.on('rejected', (ctx: EventContext) => {
      const state = (ctx.delivery as Delivery).remote_state as
        { error?: { condition?: string; info?: Record<string, unknown> } } | undefined;
      const info = state?.error?.info ?? {};
      settleOutcome(consumer, ctx.delivery as Delivery, 'deadletter', {
        reason: typeof info['DeadLetterReason'] === 'string' ? info['DeadLetterReason'] : 'DeadLetteredByReceiver',
        ...(typeof info['DeadLetterErrorDescription'] === 'string'
          ? { description: info['DeadLetterErrorDescription'] }
          : {}),
      });
    });
  });

  const forgetters = new Map<Consumer, { connection: Connection; forget: () => void }>();
  const dropConnection = (context: EventContext): void => {
    for (const [consumer, entry] of forgetters) {
      if (entry.connection !== context.connection) continue;
      forgetters.delete(consumer);
      entry.forget();
    }
  };
  container.on('disconnected', dropConnection);
  container.on('connection_close', dropConnection);
  container.on('error', () => undefined);
  container.on('connection_error', () => undefined);

  const expiryTimer = setInterval(() => {
    const now = Date.now();
    for (const store of new Set(broker.stores.values())) if (store.expireLocks(now) > 0) dispatch(store);
  }, 250);
  expiryTimer.unref();

  let server: Server | undefined;
  let boundPort = options.port ?? 0;
  const listen = async (port: number): Promise<void> => {
    const s = container.listen({
      port,
      host,
      sender_options: { autosettle: false, treat_modified_as_released: false },
      receiver_options: { autoaccept: true },
    } as unknown as Parameters<typeof container.listen>[0]);
    s.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      s.once('listening', () => resolve());
      s.once('error', (cause: Error) =>
        reject(
          new SimAzureError('AZURE_SIM_START_FAILED', `Service Bus emulator could not listen on ${host}:${port}`, {
            cause,
          }),
        ),
      );
    });
    const address = s.address();
    boundPort = typeof address === 'object' && address ? address.port : port;
    server = s;
  };
  const pause = async (): Promise<void> => {
    const s = server;
    server = undefined;
    if (!s) return;
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await closed;
    // a stopped broker loses its locks like a restarted one would let them expire
    for (const store of new Set(broker.stores.values())) store.expireLocks(Number.MAX_SAFE_INTEGER);
    consumers.clear();
    forgetters.clear();
    sessionLocks.clear();
  };
  await listen(boundPort);
  return {
    get connectionString() {
      return `Endpoint=sb://${host}:${boundPort};SharedAccessKeyName=${keyName};SharedAccessKey=${key};UseDevelopmentEmulator=true`;
    },
    host,
    get port() {
      return boundPort;
    },
    broker,
    pause,
    async resume() {
      if (!server) await listen(boundPort);
    },
    async close() {
      clearInterval(expiryTimer);
      await pause();
    },
  };
}
