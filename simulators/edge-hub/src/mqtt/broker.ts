import { type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import mqttPacket from 'mqtt-packet';
import type { Logger } from '@takt/edge-kit';
import { NetGate } from '../net-gate.js';
import { allowedSubscription } from './topics.js';

/** Largest MQTT message edgeHub accepts (262,144 bytes). */
export const MAX_MESSAGE_BYTES = 256 * 1024;

/** One authenticated module connection. */
export class ModuleConnection {
  inputsSubscribed = false;
  methodsSubscribed = false;
  closed = false;
  /** Packet id → what it carried, for QoS 1 deliveries awaiting PUBACK. */
  readonly inflight = new Map<number, number>();
  #nextPacketId = 1;

  constructor(
    readonly id: number,
    readonly deviceId: string,
    readonly moduleId: string,
    readonly client: Client,
  ) {}

  /** Writes a PUBLISH straight onto this connection (not through broker subscriptions). */
  publish(topic: string, payload: Buffer, qos: 0 | 1, tag = 0): number | undefined {
    if (this.closed) return undefined;
    let packetId: number | undefined;
    if (qos === 1) {
      for (let n = 0; n < 65535; n++) {
        const candidate = this.#nextPacketId;
        this.#nextPacketId = candidate >= 65535 ? 1 : candidate + 1;
        if (!this.inflight.has(candidate)) {
          packetId = candidate;
          break;
        }
      }
      if (packetId === undefined) return undefined;
      this.inflight.set(packetId, tag);
    }
    const buffer = mqttPacket.generate({
      cmd: 'publish',
      topic,
      payload,
      qos,
      dup: false,
      retain: false,
      ...(packetId === undefined ? {} : { messageId: packetId }),
    });
    this.client.conn.write(buffer);
    return packetId;
  }

  close(): void {
    this.client.close();
  }
}

/** What a module is allowed to be, decided by the hub. */
export type AuthResult = { ok: true } | { ok: false; reason: string };

/** The hub logic behind the broker. All calls are synchronous so message order is kept. */
export interface BrokerHandlers {
  authenticate(deviceId: string, moduleId: string, username: string, password: string): AuthResult;
  /** Handles a PUBLISH; an Error refuses it (the connection is closed, as edgeHub does). */
  onPublish(connection: ModuleConnection, topic: string, payload: Buffer, qos: number): Error | undefined;
  /** Calls `done` when what `onPublish` stored is committed; the PUBACK waits for it. */
  whenDurable(done: (error?: Error) => void): void;
  onSubscribed(connection: ModuleConnection, kind: 'twin-res' | 'desired' | 'methods' | 'inputs'): void;
  onAck(connection: ModuleConnection, packetId: number, tag: number): void;
  onConnected(connection: ModuleConnection): void;
  onDisconnected(connection: ModuleConnection): void;
}

export interface MqttFrontEndOptions {
  host: string;
  port: number;
  tls: { cert: string; key: string };
  logger: Logger;
  handlers: BrokerHandlers;
}

interface AedesInternals {
  persistence: {
    outgoingClearMessageId(client: Client, packet: { messageId?: number }): Promise<unknown>;
  };
}

function authError(message: string, returnCode: 4 | 5): AuthenticateError {
  return Object.assign(new Error(message), { returnCode });
}

/**
 * MQTT 3.1.1 over TLS, speaking the IoT Hub module protocol. aedes parses the wire, keeps alive and
 * handles SUBSCRIBE; every PUBLISH is handled synchronously in `authorizePublish` (before aedes sends
 * the PUBACK), and everything the hub sends to a module is written directly on its connection. No
 * message goes through aedes' own subscription matching (`authorizeForward` drops all), and sessions
 * are forced clean: the hub keeps its own durable queues and delivers only to a connection that
 * subscribed to its inputs, as edgeHub does.
 */
export class MqttFrontEnd {
  readonly gate: NetGate;
  readonly #broker: Aedes;
  readonly #connections = new Map<Client, ModuleConnection>();
  readonly #handlers: BrokerHandlers;
  readonly #log: Logger;
  #nextId = 1;
  #frozen = false;
  readonly #heldWhileFrozen: (() => void)[] = [];

  private constructor(broker: Aedes, options: MqttFrontEndOptions) {
    this.#broker = broker;
    this.#handlers = options.handlers;
    this.#log = options.logger;
    const tlsServer = createTlsServer({ cert: options.tls.cert, key: options.tls.key }, (socket) => {
      socket.setNoDelay(true);
      broker.handle(socket);
    });
    tlsServer.on('tlsClientError', (error) => this.#log.debug('TLS handshake failed', { error }));
    this.gate = new NetGate((socket: Socket) => tlsServer.emit('connection', socket));
  }

  static async create(options: MqttFrontEndOptions): Promise<MqttFrontEnd> {
    const ref: { self?: MqttFrontEnd } = {};
    const broker = await Aedes.createBroker({
      connectTimeout: 30_000,
      queueLimit: 1000,
      preConnect: (_client, packet, callback) => {
        // The hub keeps durable queues itself; aedes sessions would re-deliver at CONNECT.
        packet.clean = true;
        callback(null, true);
      },
      authenticate: (client, username, password, done) => {
        const hub = ref.self;
        if (hub === undefined) {
          done(authError('not ready', 5), false);
          return;
        }
        hub.#authenticate(client, username, password, done);
      },
      authorizePublish: (client, packet, callback) => {
        const hub = ref.self;
        if (client === null || hub === undefined) {
          callback(new Error('publish without a module connection'));
          return;
        }
        hub.#whenThawed(() => {
          const refused = hub.#publish(
            client,
            packet.topic,
            Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload),
            packet.qos,
          );
          if (refused !== undefined) callback(refused);
          else hub.#handlers.whenDurable((error) => callback(error ?? null));
        });
      },
      authorizeSubscribe: (client, subscription, callback) => {
        const hub = ref.self;
        const connection = hub === undefined ? undefined : hub.#connections.get(client);
        const kind =
          connection === undefined
            ? undefined
            : allowedSubscription(subscription.topic, connection.deviceId, connection.moduleId);
        if (hub === undefined || kind === undefined) {
          callback(null, null);
          return;
        }
        hub.#whenThawed(() => callback(null, subscription));
      },
      authorizeForward: () => null,
    });
    const front = new MqttFrontEnd(broker, options);
    ref.self = front;
    broker.on('subscribe', (subscriptions, client) => {
      const connection = front.#connections.get(client);
      if (connection === undefined) return;
      for (const sub of subscriptions) {
        const kind = allowedSubscription(sub.topic, connection.deviceId, connection.moduleId);
        if (kind === 'inputs') connection.inputsSubscribed = true;
        if (kind === 'methods') connection.methodsSubscribed = true;
        if (kind !== undefined) front.#handlers.onSubscribed(connection, kind);
      }
    });
    broker.on('unsubscribe', (topics, client) => {
      const connection = front.#connections.get(client);
      if (connection === undefined) return;
      for (const topic of topics) {
        const kind = allowedSubscription(topic, connection.deviceId, connection.moduleId);
        if (kind === 'inputs') connection.inputsSubscribed = false;
        if (kind === 'methods') connection.methodsSubscribed = false;
      }
    });
    broker.on('clientDisconnect', (client) => front.#dropConnection(client));
    broker.on('clientError', (client, error) => {
      front.#log.debug('module connection error', { clientId: client.id, error });
      front.#dropConnection(client);
    });
    broker.on('connectionError', (_client, error) => front.#log.debug('connection refused', { error }));
    broker.on('clientReady', (client) => {
      const connection = front.#connections.get(client);
      if (connection !== undefined) front.#handlers.onConnected(connection);
    });
    const persistence = (broker as unknown as AedesInternals).persistence;
    const clear = persistence.outgoingClearMessageId.bind(persistence);
    persistence.outgoingClearMessageId = (client, packet) => {
      const connection = front.#connections.get(client);
      const packetId = packet.messageId;
      if (connection !== undefined && packetId !== undefined) {
        const tag = connection.inflight.get(packetId);
        if (tag !== undefined) {
          connection.inflight.delete(packetId);
          front.#handlers.onAck(connection, packetId, tag);
        }
      }
      return clear(client, packet);
    };
    await front.gate.listen(options.host, options.port).catch((error: unknown) => {
      broker.close();
      throw error;
    });
    return front;
  }

  get port(): number {
    const address = this.gate.server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  connections(): ModuleConnection[] {
    return [...this.#connections.values()];
  }

  #authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: (error: AuthenticateError | null, success: boolean | null) => void,
  ): void {
    const parts = (client.id ?? '').split('/');
    if (parts.length !== 2 || !parts[0] || !parts[1]) {
      done(authError('client id must be <deviceId>/<moduleId>', 5), false);
      return;
    }
    const [deviceId, moduleId] = parts as [string, string];
    const result = this.#handlers.authenticate(deviceId, moduleId, username ?? '', password?.toString('utf8') ?? '');
    if (!result.ok) {
      this.#log.info('module refused', { deviceId, moduleId, reason: result.reason });
      done(authError(result.reason, 5), false);
      return;
    }
    const connection = new ModuleConnection(this.#nextId++, deviceId, moduleId, client);
    this.#connections.set(client, connection);
    done(null, true);
  }

  #publish(client: Client, topic: string, payload: Buffer, qos: number): Error | undefined {
    const connection = this.#connections.get(client);
    if (connection === undefined) return new Error('not authenticated');
    if (payload.length > MAX_MESSAGE_BYTES)
      return new Error(`message of ${payload.length} bytes exceeds ${MAX_MESSAGE_BYTES}`);
    try {
      return this.#handlers.onPublish(connection, topic, payload, qos);
    } catch (error) {
      this.#log.error('publish handler failed', { moduleId: connection.moduleId, error });
      return error instanceof Error ? error : new Error(String(error));
    }
  }

  #dropConnection(client: Client): void {
    const connection = this.#connections.get(client);
    if (connection === undefined) return;
    this.#connections.delete(client);
    connection.closed = true;
    connection.inputsSubscribed = false;
    connection.methodsSubscribed = false;
    this.#handlers.onDisconnected(connection);
  }

  #whenThawed(run: () => void): void {
    if (this.#frozen) this.#heldWhileFrozen.push(run);
    else run();
  }

  get frozen(): boolean {
    return this.#frozen;
  }

  /** Stops answering: new connections get no TLS handshake, existing ones no PUBACK/SUBACK. */
  freeze(): void {
    this.#frozen = true;
    this.gate.freeze();
  }

  thaw(): void {
    this.#frozen = false;
    this.gate.thaw();
    const held = this.#heldWhileFrozen.splice(0, this.#heldWhileFrozen.length);
    for (const run of held) run();
  }

  /** Closes every module connection (as a restarting edgeHub would). */
  dropAll(): number {
    this.#heldWhileFrozen.length = 0;
    return this.gate.dropAll();
  }

  async close(): Promise<void> {
    this.#heldWhileFrozen.length = 0;
    await this.gate.close();
    await new Promise<void>((resolve) => this.#broker.close(() => resolve()));
  }
}
