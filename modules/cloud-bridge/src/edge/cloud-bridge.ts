import {
  type BindResult,
  Inbox,
  type InputMessage,
  type Logger,
  Outbox,
  type SqliteDatabase,
  SupervisedModuleClient,
  type SupervisedModuleClientOptions,
  type Telemetry,
  configProblems,
  openDatabase,
} from '@takt/edge-kit';
import { SinksSwitchSchema, type SinksSwitch } from '../config.js';
import { type Order, StatusEventSchema, lifecycleTypes } from '../domain/contracts.js';
import { CloudBridgeError } from '../errors.js';
import { OrderReceiver, type OrderReceiverHealth, type OrderReceiverOptions } from '../orders/order-receiver.js';
import type { Sink } from '../sinks/sink.js';
import { SinkChannel, type SinkHealth } from '../sinks/sink-channel.js';

export interface CloudBridgeOptions {
  databaseFile: string;
  logger: Logger;
  sinks: readonly Sink[];
  /** The orders queue receiver; absent when orders are off or Service Bus is not configured. */
  ordersReceiver?: OrderReceiverOptions['receiver'];
  telemetry?: Telemetry;
  /** Builds the SDK ModuleClient (tests); default `ModuleClient.fromEnvironment(Mqtt)`. */
  createClient?: SupervisedModuleClientOptions['createClient'];
  batchSize?: number;
  initialRetryDelayMs?: number;
  maxRetryDelayMs?: number;
  breakerFailures?: number;
  breakerOpenMs?: number;
  healthIntervalMs?: number;
}

/** What `health` in reported properties holds. */
export interface CloudBridgeHealth {
  digitalTwins?: SinkHealth;
  serviceBus?: SinkHealth;
  eventGrid?: SinkHealth;
  orders?: OrderReceiverHealth;
  statusRefused: number;
}

/**
 * The cloud-bridge module: status events in (input `status`), one durable outbox per cloud sink, orders
 * from a Service Bus queue out to the orchestrator (output `orders`), health in reported properties.
 */
export class CloudBridge {
  readonly name = 'cloud-bridge';
  readonly channels = new Map<string, SinkChannel>();
  private readonly db: SqliteDatabase;
  private readonly logger: Logger;
  private readonly eventInbox: Inbox;
  private readonly orderInbox: Inbox;
  private readonly edgeOutbox: Outbox;
  private readonly edge: SupervisedModuleClient;
  private readonly orders: OrderReceiver | undefined;
  private ordersEnabled = true;
  private healthTimer: NodeJS.Timeout | undefined;
  private lastHealth = '';
  private statusRefused = 0;

  constructor(private readonly options: CloudBridgeOptions) {
    this.logger = options.logger.child({ component: 'cloud-bridge' });
    this.db = openDatabase(options.databaseFile);
    this.eventInbox = new Inbox(this.db, { name: 'status_events' });
    this.orderInbox = new Inbox(this.db, { name: 'orders_in' });
    this.edgeOutbox = new Outbox(this.db, { name: 'edge_out' });
    for (const sink of options.sinks) {
      this.channels.set(
        sink.name,
        new SinkChannel({
          sink,
          db: this.db,
          logger: this.logger,
          batchSize: options.batchSize ?? 100,
          initialRetryDelayMs: options.initialRetryDelayMs ?? 500,
          maxRetryDelayMs: options.maxRetryDelayMs ?? 30_000,
          breakerFailures: options.breakerFailures ?? 5,
          breakerOpenMs: options.breakerOpenMs ?? 15_000,
        }),
      );
    }
    if (options.ordersReceiver) {
      this.orders = new OrderReceiver({
        receiver: options.ordersReceiver,
        logger: this.logger,
        accept: (order) => this.acceptOrder(order),
      });
    }
    this.edge = new SupervisedModuleClient({
      logger: this.logger,
      outbox: this.edgeOutbox,
      inbox: new Inbox(this.db, { name: 'edge_in' }),
      inputs: { status: (message) => this.onStatus(message) },
      twin: {
        properties: [
          {
            name: 'sinks',
            mode: 'whole',
            validate: (value) => {
              const parsed = SinksSwitchSchema.safeParse(value);
              return parsed.success
                ? { ok: true, value: parsed.data }
                : { ok: false, problems: configProblems(parsed.error).map((p) => `${p.path}: ${p.message}`) };
            },
          },
        ],
        onChange: (result) => this.onTwin(result),
      },
      ...(options.createClient ? { createClient: options.createClient } : {}),
      reconnectInitialDelayMs: 200,
      reconnectMaxDelayMs: 10_000,
    });
  }

  async start(): Promise<void> {
    for (const channel of this.channels.values()) channel.start();
    await this.edge.start();
    if (this.ordersEnabled) this.orders?.start();
    this.healthTimer = setInterval(() => void this.reportHealth(), this.options.healthIntervalMs ?? 10_000);
    this.healthTimer.unref();
    await this.reportHealth();
  }

  async close(): Promise<void> {
    if (this.healthTimer) clearInterval(this.healthTimer);
    await this.orders?.close();
    await this.edge.close();
    for (const channel of this.channels.values()) await channel.close();
    this.db.close();
  }

  health(): CloudBridgeHealth {
    const out: CloudBridgeHealth = { statusRefused: this.statusRefused };
    for (const [name, channel] of this.channels) out[name as 'digitalTwins'] = channel.health();
    if (this.orders) out.orders = { enabled: this.ordersEnabled, ...this.orders.counters };
    return out;
  }

  /** Sends the health to reported properties when it changed. */
  async reportHealth(): Promise<void> {
    const health = this.health();
    const text = JSON.stringify(health);
    if (text === this.lastHealth) return;
    try {
      await this.edge.reportProperties({ health });
      this.lastHealth = text;
    } catch (error) {
      this.logger.debug('could not report health; next interval', { error });
    }
    const telemetry = this.options.telemetry;
    if (telemetry?.enabled) {
      for (const [name, channel] of this.channels) {
        telemetry.trackMetric('cloud_bridge_sink_pending', channel.health().pending, { sink: name });
      }
    }
  }

  private onStatus(message: InputMessage): void {
    let body: unknown;
    try {
      body = JSON.parse(message.body.toString('utf8'));
    } catch {
      body = undefined;
    }
    const parsed = StatusEventSchema.safeParse(body);
    if (!parsed.success) {
      this.statusRefused += 1;
      const problems = configProblems(parsed.error);
      throw new CloudBridgeError(
        'STATUS_EVENT_INVALID',
        `status event refused: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`,
        {
          details: { messageId: message.messageId, problems: problems.slice(0, 10) },
        },
      );
    }
    const event = parsed.data;
    // Runs inside the edge inbox's transaction: appends to every sink commit with the receipt.
    this.eventInbox.receive(event.eventId, () => {
      for (const channel of this.channels.values()) {
        if (!channel.enabled) continue;
        if (channel.name === 'eventGrid' && !lifecycleTypes.has(event.type)) continue;
        channel.outbox.append({ channel: channel.name, id: event.eventId, body: event, source: event.instanceId });
      }
    });
    this.options.telemetry?.trackMetric('cloud_bridge_status_events', 1, { type: event.type });
  }

  private acceptOrder(order: Order): 'accepted' | 'duplicate' {
    const outcome = this.orderInbox.receive(order.orderId, () => {
      this.edgeOutbox.append({
        channel: 'orders',
        id: order.orderId,
        body: order,
        source: 'orders',
        properties: { workflowId: order.workflowId },
      });
    });
    this.options.telemetry?.trackTrace(`order ${order.orderId} handed to the orchestrator`, 'information', {
      orderId: order.orderId,
      duplicate: String(outcome.duplicate),
    });
    return outcome.duplicate ? 'duplicate' : 'accepted';
  }

  private onTwin(result: BindResult): void {
    for (const change of result.accepted) {
      if (change.property !== 'sinks') continue;
      const value = change.value as SinksSwitch;
      for (const channel of this.channels.values()) channel.enabled = value[channel.name] ?? true;
      const wantOrders = value.orders ?? true;
      if (wantOrders !== this.ordersEnabled) {
        this.ordersEnabled = wantOrders;
        if (wantOrders) this.orders?.start();
        else void this.orders?.stop();
      }
      this.logger.info('sink switches applied', { sinks: value });
    }
  }
}
