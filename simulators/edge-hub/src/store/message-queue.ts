import type Database from 'better-sqlite3';
import type { EdgeMessage } from '../routing/message.js';
import type { EmulatorDatabase, GroupCommit } from './database.js';

/** A stored message waiting for its endpoint. */
export interface QueuedMessage {
  seq: number;
  endpoint: string;
  priority: number;
  enqueuedMs: number;
  expiresMs: number | null;
  message: EdgeMessage;
}

/** A message the cloud sink received. */
export interface UpstreamRecord {
  /** Order of arrival in the cloud. */
  seq: number;
  priority: number;
  enqueuedMs: number;
  receivedMs: number;
  message: EdgeMessage;
}

interface QueueRow {
  seq: number;
  endpoint: string;
  priority: number;
  enqueued_ms: number;
  expires_ms: number | null;
  message: string;
  body: Buffer;
}

interface StoredMeta {
  systemProperties: Record<string, string>;
  properties: Record<string, string>;
}

const toMessage = (row: { message: string; body: Buffer }): EdgeMessage => {
  const meta = JSON.parse(row.message) as StoredMeta;
  return { body: row.body, systemProperties: meta.systemProperties, properties: meta.properties };
};

/** Pending messages per endpoint and priority in one table. */
export interface QueueDepth {
  endpoint: string;
  priority: number;
  count: number;
}

/**
 * The store-and-forward queues in SQLite: one logical queue per endpoint and priority, read in
 * (priority, arrival) order, each message removed only when its endpoint acknowledged it.
 */
export class MessageQueue {
  readonly #db: EmulatorDatabase;
  readonly #insert: Database.Statement;
  readonly #delete: Database.Statement;
  readonly #nextAfter: Database.Statement;
  readonly #expire: Database.Statement;
  readonly #moveUpstream: (limit: number, nowMs: number) => number;

  readonly #group: GroupCommit;

  constructor(db: EmulatorDatabase, group: GroupCommit) {
    this.#db = db;
    this.#group = group;
    this.#insert = db.prepare(
      'INSERT INTO queue (endpoint, priority, enqueued_ms, expires_ms, message, body) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.#delete = db.prepare('DELETE FROM queue WHERE seq = ?');
    this.#nextAfter = db.prepare(
      'SELECT seq, endpoint, priority, enqueued_ms, expires_ms, message, body FROM queue WHERE endpoint = ? AND priority = ? AND seq > ? AND (expires_ms IS NULL OR expires_ms > ?) ORDER BY seq LIMIT ?',
    );
    this.#expire = db.prepare('DELETE FROM queue WHERE expires_ms IS NOT NULL AND expires_ms <= ?');
    const select = db.prepare(
      "SELECT seq, priority, enqueued_ms, expires_ms, message, body FROM queue WHERE endpoint = '$upstream' AND (expires_ms IS NULL OR expires_ms > ?) ORDER BY priority, seq LIMIT ?",
    );
    const copy = db.prepare(
      'INSERT INTO upstream (queued_seq, priority, enqueued_ms, received_ms, message, body) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.#moveUpstream = db.transaction((limit: number, nowMs: number) => {
      const rows = select.all(nowMs, limit) as QueueRow[];
      for (const row of rows) {
        copy.run(row.seq, row.priority, row.enqueued_ms, nowMs, row.message, row.body);
        this.#delete.run(row.seq);
      }
      return rows.length;
    });
  }

  /** Stores one message for several endpoints (one transaction); returns the sequence number per target. */
  enqueue(
    targets: readonly { key: string; priority: number; timeToLiveSecs: number }[],
    message: EdgeMessage,
    nowMs: number,
  ): number[] {
    this.#group.join();
    const meta = JSON.stringify({ systemProperties: message.systemProperties, properties: message.properties });
    const insert = (t: { key: string; priority: number; timeToLiveSecs: number }): number =>
      Number(
        this.#insert.run(
          t.key,
          t.priority,
          nowMs,
          t.timeToLiveSecs < 0 ? null : nowMs + t.timeToLiveSecs * 1000,
          meta,
          message.body,
        ).lastInsertRowid,
      );
    if (targets.length === 1) return [insert(targets[0] as { key: string; priority: number; timeToLiveSecs: number })];
    return this.#db.transaction(() => targets.map(insert))();
  }

  /** The next `limit` live messages of one endpoint and priority after sequence `afterSeq`. */
  peekAfter(endpoint: string, priority: number, afterSeq: number, limit: number, nowMs: number): QueuedMessage[] {
    return (this.#nextAfter.all(endpoint, priority, afterSeq, nowMs, limit) as QueueRow[]).map((row) => ({
      seq: row.seq,
      endpoint: row.endpoint,
      priority: row.priority,
      enqueuedMs: row.enqueued_ms,
      expiresMs: row.expires_ms,
      message: toMessage(row),
    }));
  }

  /** Removes an acknowledged message. */
  remove(seq: number): void {
    this.#group.join();
    this.#delete.run(seq);
  }

  /** Deletes expired messages; returns how many. */
  purgeExpired(nowMs: number): number {
    return this.#expire.run(nowMs).changes;
  }

  /** Hands up to `limit` upstream messages to the cloud sink, in priority order; returns how many. */
  drainUpstream(limit: number, nowMs: number): number {
    this.#group.join();
    return this.#moveUpstream(limit, nowMs);
  }

  depths(): QueueDepth[] {
    return this.#db
      .prepare(
        'SELECT endpoint, priority, COUNT(*) AS count FROM queue GROUP BY endpoint, priority ORDER BY endpoint, priority',
      )
      .all() as QueueDepth[];
  }

  /** What the cloud received, from sequence `afterSeq` on. */
  upstream(afterSeq: number, limit: number): UpstreamRecord[] {
    const rows = this.#db
      .prepare(
        'SELECT seq, priority, enqueued_ms, received_ms, message, body FROM upstream WHERE seq > ? ORDER BY seq LIMIT ?',
      )
      .all(afterSeq, limit) as (QueueRow & { received_ms: number })[];
    return rows.map((row) => ({
      seq: row.seq,
      priority: row.priority,
      enqueuedMs: row.enqueued_ms,
      receivedMs: row.received_ms,
      message: toMessage(row),
    }));
  }
}
