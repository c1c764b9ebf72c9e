import { randomUUID } from 'node:crypto';
import { EdgeKitError, errorMessage, isCodedError } from '../errors.js';
import type { Logger } from '../logger.js';
import { silentLogger } from '../logger.js';
import { sleep } from '../resilience/abort.js';
import { backoffDelayMs } from '../resilience/retry.js';
import { type SqliteDatabase, applyMigrations } from './database.js';

/** What a producer appends. */
export interface OutboxEntry {
  /** Where it goes, e.g. the module output name (`status`, `audit`). */
  channel: string;
  /** JSON value (serialized as UTF-8 JSON) or raw bytes. */
  body: unknown;
  /** Application properties (route conditions read them). */
  properties?: Readonly<Record<string, string>>;
  /** Whose sequence this message continues, e.g. an instance id. Default: the channel. */
  source?: string;
  /** Stable message id; generated (UUID) when absent. Receivers de-duplicate by it. */
  id?: string;
  /** Default `application/json` for JSON bodies, `application/octet-stream` for bytes. */
  contentType?: string;
}

/** A stored message. */
export interface OutboxMessage {
  /** Global order of the outbox. */
  readonly seq: number;
  readonly id: string;
  readonly channel: string;
  readonly source: string;
  /** 1, 2, 3 … per source, without gaps. */
  readonly sourceSeq: number;
  readonly body: Buffer;
  readonly contentType: string;
  readonly properties: Readonly<Record<string, string>>;
  /** Epoch ms when it was appended. */
  readonly createdAt: number;
  readonly attempts: number;
}

export interface OutboxOptions {
  /** Table prefix, so one database can hold several outboxes (one per sink). Default `outbox`. */
  name?: string;
  /** Largest body accepted. Default 256 KiB, edgeHub's message limit. */
  maxMessageBytes?: number;
  now?: () => number;
  newId?: () => string;
}

interface Row {
  seq: number;
  id: string;
  channel: string;
  source: string;
  source_seq: number;
  body: Buffer;
  content_type: string;
  properties: string | null;
  created_at: number;
  attempts: number;
}

const NAME = /^[a-z][a-z0-9_]{0,40}$/;

/**
 * A durable outbox in SQLite. `append()` is synchronous: call it inside the same `db.transaction()`
 * as the state change that produced the message, so both commit or neither does. An
 * {@link OutboxSender} delivers the messages in order and removes them once the transport confirmed.
 *
 * @example
 * const outbox = new Outbox(db);
 * db.transaction(() => { saveInstance(db, instance); outbox.append({ channel: 'status', body: event, source: instance.id }); })();
 */
export class Outbox {
  readonly name: string;
  private readonly maxMessageBytes: number;
  private readonly now: () => number;
  private readonly newId: () => string;
  private readonly listeners = new Set<() => void>();
  private wakeScheduled = false;
  private readonly stmt: {
    nextSeq: { get(source: string): unknown };
    setSeq: { run(source: string, seq: number): unknown };
    insert: { run(...args: unknown[]): { lastInsertRowid: number | bigint } };
    peek: { all(limit: number): unknown[] };
    remove: { run(seq: number): unknown };
    fail: { run(error: string, seq: number): unknown };
    count: { get(): unknown };
    dead: { run(params: { seq: number; error: string; at: number }): unknown };
    deadCount: { get(): unknown };
  };

  constructor(
    private readonly db: SqliteDatabase,
    options: OutboxOptions = {},
  ) {
    this.name = options.name ?? 'outbox';
    if (!NAME.test(this.name)) throw new TypeError(`outbox name must match ${String(NAME)}: ${this.name}`);
    this.maxMessageBytes = options.maxMessageBytes ?? 256 * 1024;
    this.now = options.now ?? Date.now;
    this.newId = options.newId ?? randomUUID;
    const t = this.name;
    applyMigrations(db, `${t}`, [
      {
        version: 1,
        name: 'create outbox',
        up: `
          CREATE TABLE ${t}_messages (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            channel TEXT NOT NULL,
            source TEXT NOT NULL,
            source_seq INTEGER NOT NULL,
            body BLOB NOT NULL,
            content_type TEXT NOT NULL,
            properties TEXT,
            created_at INTEGER NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            UNIQUE (source, source_seq)
          );
          CREATE TABLE ${t}_sources (source TEXT PRIMARY KEY, last_seq INTEGER NOT NULL) STRICT;
          CREATE TABLE ${t}_dead (
            seq INTEGER PRIMARY KEY, id TEXT NOT NULL, channel TEXT NOT NULL, source TEXT NOT NULL,
            source_seq INTEGER NOT NULL, body BLOB NOT NULL, content_type TEXT NOT NULL, properties TEXT,
            created_at INTEGER NOT NULL, attempts INTEGER NOT NULL, error TEXT NOT NULL, dead_at INTEGER NOT NULL
          );`,
      },
    ]);
    this.stmt = {
      nextSeq: db.prepare(`SELECT last_seq FROM ${t}_sources WHERE source = ?`).pluck(),
      setSeq: db.prepare(
        `INSERT INTO ${t}_sources (source, last_seq) VALUES (?, ?) ON CONFLICT(source) DO UPDATE SET last_seq = excluded.last_seq`,
      ),
      insert: db.prepare(
        `INSERT INTO ${t}_messages (id, channel, source, source_seq, body, content_type, properties, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      peek: db.prepare(`SELECT * FROM ${t}_messages ORDER BY seq LIMIT ?`),
      remove: db.prepare(`DELETE FROM ${t}_messages WHERE seq = ?`),
      fail: db.prepare(`UPDATE ${t}_messages SET attempts = attempts + 1, last_error = ? WHERE seq = ?`),
      count: db.prepare(`SELECT COUNT(*) FROM ${t}_messages`).pluck(),
      dead: db.prepare(
        `INSERT INTO ${t}_dead SELECT seq, id, channel, source, source_seq, body, content_type, properties, created_at, attempts, @error, @at FROM ${t}_messages WHERE seq = @seq`,
      ),
      deadCount: db.prepare(`SELECT COUNT(*) FROM ${t}_dead`).pluck(),
    };
  }

  /**
   * Stores a message. Synchronous; atomic with the caller's surrounding transaction. Throws
   * MESSAGE_TOO_LARGE for a body over the limit (nothing is stored).
   */
  append(entry: OutboxEntry): OutboxMessage {
    const isBytes = entry.body instanceof Uint8Array;
    const body = isBytes
      ? Buffer.from(entry.body as Uint8Array)
      : Buffer.from(JSON.stringify(entry.body ?? null), 'utf8');
    if (body.length > this.maxMessageBytes) {
      throw new EdgeKitError(
        'MESSAGE_TOO_LARGE',
        `message for ${entry.channel} is ${body.length} bytes; the limit is ${this.maxMessageBytes}`,
        { details: { channel: entry.channel, bytes: body.length, limit: this.maxMessageBytes } },
      );
    }
    const source = entry.source ?? entry.channel;
    const id = entry.id ?? this.newId();
    const contentType = entry.contentType ?? (isBytes ? 'application/octet-stream' : 'application/json');
    const properties = entry.properties ?? {};
    const createdAt = this.now();
    const write = (): OutboxMessage => {
      const last = (this.stmt.nextSeq.get(source) as number | undefined) ?? 0;
      const sourceSeq = last + 1;
      this.stmt.setSeq.run(source, sourceSeq);
      const info = this.stmt.insert.run(
        id,
        entry.channel,
        source,
        sourceSeq,
        body,
        contentType,
        Object.keys(properties).length > 0 ? JSON.stringify(properties) : null,
        createdAt,
      );
      return {
        seq: Number(info.lastInsertRowid),
        id,
        channel: entry.channel,
        source,
        sourceSeq,
        body,
        contentType,
        properties,
        createdAt,
        attempts: 0,
      };
    };
    const message = this.db.inTransaction ? write() : this.db.transaction(write)();
    this.scheduleWake();
    return message;
  }

  /** The oldest `limit` messages not yet removed, in order. */
  peek(limit = 100): OutboxMessage[] {
    return (this.stmt.peek.all(limit) as Row[]).map((row) => ({
      seq: row.seq,
      id: row.id,
      channel: row.channel,
      source: row.source,
      sourceSeq: row.source_seq,
      body: row.body,
      contentType: row.content_type,
      properties: row.properties ? (JSON.parse(row.properties) as Record<string, string>) : {},
      createdAt: row.created_at,
      attempts: row.attempts,
    }));
  }

  /** Removes delivered messages (one transaction). */
  remove(seqs: readonly number[]): void {
    if (seqs.length === 0) return;
    this.db.transaction(() => {
      for (const seq of seqs) this.stmt.remove.run(seq);
    })();
  }

  /** Counts a failed attempt on a message. */
  recordFailure(seq: number, error: unknown): void {
    this.stmt.fail.run(errorMessage(error).slice(0, 1000), seq);
  }

  /** Moves a message that can never be delivered to the dead-letter table (kept, never dropped). */
  deadLetter(seq: number, error: unknown): void {
    this.db.transaction(() => {
      this.stmt.dead.run({ seq, error: errorMessage(error).slice(0, 1000), at: this.now() });
      this.stmt.remove.run(seq);
    })();
  }

  /** Messages waiting to be delivered. */
  size(): number {
    return this.stmt.count.get() as number;
  }

  /** Messages parked as undeliverable. */
  deadSize(): number {
    return this.stmt.deadCount.get() as number;
  }

  /** Called (after the appending transaction finished) whenever messages were appended. */
  onAppend(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private scheduleWake(): void {
    if (this.wakeScheduled || this.listeners.size === 0) return;
    this.wakeScheduled = true;
    // setImmediate runs after the synchronous transaction has committed (or rolled back: a spurious
    // wake finds nothing new, which is harmless).
    setImmediate(() => {
      this.wakeScheduled = false;
      for (const listener of this.listeners) listener();
    });
  }
}

export interface OutboxSenderOptions {
  /**
   * Delivers a batch in order; resolves once the transport confirmed all of it. Reject to retry the
   * batch (from its first message) later. A coded, non-retryable error dead-letters the first message.
   */
  send: (batch: readonly OutboxMessage[], signal: AbortSignal) => Promise<void>;
  /** Messages per `send` call. Default 1 (for transports without batches). */
  batchSize?: number;
  /** Backoff after a failure: first window. Default 200 ms. */
  initialRetryDelayMs?: number;
  /** Backoff cap. Default 30,000 ms. */
  maxRetryDelayMs?: number;
  /** Poll interval when nothing wakes the sender (another process appended). Default 1,000 ms. */
  pollIntervalMs?: number;
  logger?: Logger;
  random?: () => number;
}

/** Counters for metrics and health. */
export interface OutboxSenderStats {
  sent: number;
  failures: number;
  deadLettered: number;
  pending: number;
  lastError: string | undefined;
}

/**
 * Drains an {@link Outbox} in order: one batch in flight, removed only after `send` resolved, retried
 * with backoff and jitter after a failure. At-least-once: a crash between delivery and removal sends
 * the batch again, so receivers de-duplicate by message id (see {@link Inbox}).
 */
export class OutboxSender {
  private readonly batchSize: number;
  private readonly logger: Logger;
  private controller: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private unsubscribe: (() => void) | undefined;
  private readonly counters: Omit<OutboxSenderStats, 'pending'> = {
    sent: 0,
    failures: 0,
    deadLettered: 0,
    lastError: undefined,
  };
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly outbox: Outbox,
    private readonly options: OutboxSenderOptions,
  ) {
    this.batchSize = Math.max(1, options.batchSize ?? 1);
    this.logger = (options.logger ?? silentLogger).child({ component: `outbox-sender:${outbox.name}` });
  }

  start(): void {
    if (this.loop) return;
    const controller = new AbortController();
    this.controller = controller;
    this.unsubscribe = this.outbox.onAppend(() => this.wake?.());
    this.loop = this.run(controller.signal).catch((error: unknown) => {
      if (!controller.signal.aborted) this.logger.error('outbox sender stopped', { error });
    });
  }

  /** Stops after the batch in flight (its `send` is aborted); idempotent. */
  async close(): Promise<void> {
    this.controller?.abort();
    this.wake?.();
    this.unsubscribe?.();
    await this.loop;
    this.loop = undefined;
  }

  stats(): OutboxSenderStats {
    return { ...this.counters, pending: this.outbox.size() };
  }

  /** Resolves once the outbox is empty (or rejects on timeout). */
  async idle(timeoutMs = 30_000): Promise<void> {
    if (this.outbox.size() === 0) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new EdgeKitError('OPERATION_TIMEOUT', 'outbox did not drain in time')),
        timeoutMs,
      );
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
      this.wake?.();
    });
  }

  private async run(signal: AbortSignal): Promise<void> {
    const state = { failuresInARow: 0 };
    while (!signal.aborted) {
      try {
        await this.step(signal, state);
      } catch (error) {
        // The store itself failed (disk full, I/O error): keep the sender alive and try again.
        if (signal.aborted) return;
        this.counters.lastError = errorMessage(error);
        this.logger.error('outbox sender could not read or update the outbox; retrying', { error });
        await sleep(1_000, signal).catch(() => undefined);
      }
    }
  }

  /** One round: wait for work, or send one batch and settle its outcome. */
  private async step(signal: AbortSignal, state: { failuresInARow: number }): Promise<void> {
    const batch = this.outbox.peek(this.batchSize);
    if (batch.length === 0) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, this.options.pollIntervalMs ?? 1_000);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.wake = done;
      });
      this.wake = undefined;
      return;
    }
    try {
      await this.options.send(batch, signal);
    } catch (error) {
      if (signal.aborted) return;
      const first = batch[0] as OutboxMessage;
      this.counters.failures += 1;
      this.counters.lastError = errorMessage(error);
      if (isCodedError(error) && !error.retryable) {
        this.outbox.deadLetter(first.seq, error);
        this.counters.deadLettered += 1;
        this.logger.error('message can never be delivered; kept in the dead-letter table', {
          id: first.id,
          channel: first.channel,
          error,
        });
        return;
      }
      this.outbox.recordFailure(first.seq, error);
      state.failuresInARow += 1;
      const delayMs = backoffDelayMs(state.failuresInARow, {
        initialDelayMs: this.options.initialRetryDelayMs ?? 200,
        maxDelayMs: this.options.maxRetryDelayMs ?? 30_000,
        ...(this.options.random ? { random: this.options.random } : {}),
      });
      this.logger.warn('delivery failed; retrying', { id: first.id, attempt: state.failuresInARow, delayMs, error });
      await sleep(delayMs, signal).catch(() => undefined);
      return;
    }
    this.outbox.remove(batch.map((m) => m.seq));
    this.counters.sent += batch.length;
    state.failuresInARow = 0;
  }
}
