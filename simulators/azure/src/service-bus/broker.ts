import { type Filter, type FilterInput, compileFilter } from './sql-filter.js';

/** A message as stored: the decoded AMQP sections (re-encoded on delivery) plus broker state. */
export interface StoredMessage {
  sequenceNumber: number;
  messageId: string;
  sessionId: string | undefined;
  enqueuedAt: number;
  deliveryCount: number;
  /** The decoded rhea message (properties, application_properties, body section …). */
  amqp: Record<string, unknown>;
  lockToken: string | undefined;
  lockedUntil: number;
}

/** A queue, a subscription or a dead-letter queue: what a receiver link reads from. */
export class MessageStore {
  private nextSequence = 1;
  /** Available messages in sequence order. */
  readonly available: StoredMessage[] = [];
  readonly locked = new Map<string, StoredMessage>();
  readonly deadLetter: MessageStore | undefined;
  /** Completed messages (for tests and diagnostics). */
  completedCount = 0;

  constructor(
    readonly path: string,
    readonly lockDurationMs: number,
    readonly maxDeliveryCount: number,
    withDeadLetter: boolean,
  ) {
    this.deadLetter = withDeadLetter
      ? new MessageStore(`${path}/$DeadLetterQueue`, lockDurationMs, 1_000, false)
      : undefined;
  }

  enqueue(amqp: Record<string, unknown>, messageId: string, sessionId: string | undefined, now: number): StoredMessage {
    const message: StoredMessage = {
      sequenceNumber: this.nextSequence++,
      messageId,
      sessionId,
      enqueuedAt: now,
      deliveryCount: 0,
      amqp: structuredCloneAmqp(amqp),
      lockToken: undefined,
      lockedUntil: 0,
    };
    this.available.push(message);
    return message;
  }

  /** Puts a message back (abandon, lock expiry) in sequence order. */
  requeue(message: StoredMessage): void {
    message.lockToken = undefined;
    message.lockedUntil = 0;
    if (message.deliveryCount >= this.maxDeliveryCount && this.deadLetter) {
      this.moveToDeadLetter(message, 'MaxDeliveryCountExceeded', `delivered ${message.deliveryCount} times`);
      return;
    }
    const index = this.available.findIndex((m) => m.sequenceNumber > message.sequenceNumber);
    if (index < 0) this.available.push(message);
    else this.available.splice(index, 0, message);
  }

  moveToDeadLetter(message: StoredMessage, reason: string, description: string | undefined): void {
    const target = this.deadLetter;
    if (!target) return;
    const props = { ...((message.amqp['application_properties'] as Record<string, unknown> | undefined) ?? {}) };
    props['DeadLetterReason'] = reason;
    if (description !== undefined) props['DeadLetterErrorDescription'] = description;
    target.enqueue(
      { ...message.amqp, application_properties: props },
      message.messageId,
      message.sessionId,
      Date.now(),
    );
  }

  /** Locks expired at `now` go back to the queue; returns how many. */
  expireLocks(now: number): number {
    let count = 0;
    for (const [token, message] of this.locked) {
      if (message.lockedUntil <= now) {
        this.locked.delete(token);
        this.requeue(message);
        count += 1;
      }
    }
    return count;
  }
}

/** rhea Section objects carry a prototype; a shallow copy per section is enough (bodies are immutable). */
function structuredCloneAmqp(amqp: Record<string, unknown>): Record<string, unknown> {
  return { ...amqp };
}

/** A subscription: its store and its rule. */
export interface Subscription {
  name: string;
  rule: string;
  filter: Filter;
  store: MessageStore;
}

/** Entity definitions the emulator starts with. */
export interface ServiceBusEntities {
  queues?: Readonly<Record<string, { lockDurationMs?: number; maxDeliveryCount?: number }>>;
  topics?: Readonly<
    Record<string, { subscriptions: Readonly<Record<string, { rule?: string; lockDurationMs?: number }>> }>
  >;
}

interface Publishable {
  path: string;
  seen: Map<string, number>;
  publish(amqp: Record<string, unknown>, messageId: string, sessionId: string | undefined, input: FilterInput): void;
}

/** Queues, topics and subscriptions, duplicate detection. Pure in-memory state. */
export class Broker {
  readonly stores = new Map<string, MessageStore>();
  private readonly targets = new Map<string, Publishable>();
  readonly subscriptions = new Map<string, Subscription[]>();
  duplicatesDropped = 0;

  constructor(
    entities: ServiceBusEntities,
    private readonly duplicateWindowMs: number,
  ) {
    for (const [name, q] of Object.entries(entities.queues ?? {})) {
      const store = new MessageStore(name, q.lockDurationMs ?? 30_000, q.maxDeliveryCount ?? 10, true);
      this.addStore(store);
      this.targets.set(name, {
        path: name,
        seen: new Map(),
        publish: (amqp, id, session) => {
          store.enqueue(amqp, id, session, Date.now());
        },
      });
    }
    for (const [name, t] of Object.entries(entities.topics ?? {})) {
      const subs: Subscription[] = Object.entries(t.subscriptions).map(([subName, s]) => {
        const rule = s.rule ?? '1=1';
        const store = new MessageStore(`${name}/Subscriptions/${subName}`, s.lockDurationMs ?? 30_000, 10, true);
        this.addStore(store);
        return { name: subName, rule, filter: compileFilter(rule), store };
      });
      this.subscriptions.set(name, subs);
      this.targets.set(name, {
        path: name,
        seen: new Map(),
        publish: (amqp, id, session, input) => {
          for (const sub of subs) if (sub.filter(input)) sub.store.enqueue(amqp, id, session, Date.now());
        },
      });
    }
  }

  private addStore(store: MessageStore): void {
    this.stores.set(store.path.toLowerCase(), store);
    if (store.deadLetter) this.stores.set(store.deadLetter.path.toLowerCase(), store.deadLetter);
  }

  /** The store a receiver reads (`q`, `q/$DeadLetterQueue`, `t/Subscriptions/s`, …), case-insensitive. */
  store(path: string): MessageStore | undefined {
    return this.stores.get(path.toLowerCase());
  }

  hasTarget(path: string): boolean {
    return this.targets.has(path);
  }

  /** Publishes to a queue or topic; returns false when the id was seen within the duplicate window. */
  publish(path: string, amqp: Record<string, unknown>, messageId: string, input: FilterInput, now: number): boolean {
    const target = this.targets.get(path);
    if (!target) throw new Error(`unknown entity ${path}`);
    for (const [id, at] of target.seen) {
      if (now - at <= this.duplicateWindowMs) break; // insertion order = time order
      target.seen.delete(id);
    }
    if (target.seen.has(messageId)) {
      this.duplicatesDropped += 1;
      return false;
    }
    target.seen.set(messageId, now);
    const sessionId = input.system['sessionId'];
    target.publish(amqp, messageId, typeof sessionId === 'string' ? sessionId : undefined, input);
    return true;
  }
}
