import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

/** The emulator's one SQLite file: identities, twins, store-and-forward queues, the cloud sink. */
export type EmulatorDatabase = Database.Database;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS identities (
  module_id TEXT PRIMARY KEY,
  primary_key TEXT NOT NULL,
  secondary_key TEXT NOT NULL,
  generation_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS twins (
  module_id TEXT PRIMARY KEY,
  desired TEXT NOT NULL,
  desired_version INTEGER NOT NULL,
  reported TEXT NOT NULL,
  reported_version INTEGER NOT NULL,
  desired_subscribed INTEGER NOT NULL DEFAULT 0,
  seeded_hash TEXT
);
CREATE TABLE IF NOT EXISTS queue (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  endpoint TEXT NOT NULL,
  priority INTEGER NOT NULL,
  enqueued_ms INTEGER NOT NULL,
  expires_ms INTEGER,
  message TEXT NOT NULL,
  body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_order ON queue (endpoint, priority, seq);
CREATE INDEX IF NOT EXISTS queue_expiry ON queue (expires_ms) WHERE expires_ms IS NOT NULL;
CREATE TABLE IF NOT EXISTS upstream (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  queued_seq INTEGER NOT NULL,
  priority INTEGER NOT NULL,
  enqueued_ms INTEGER NOT NULL,
  received_ms INTEGER NOT NULL,
  message TEXT NOT NULL,
  body BLOB NOT NULL
);
`;

/**
 * Opens (creating) the database in WAL mode. `synchronous = NORMAL`: a committed message survives a
 * crash or kill of the emulator (the WAL is in the OS page cache), not a power cut of the host, which
 * is enough for an emulator and keeps thousands of messages per second possible.
 */
export function openEmulatorDatabase(file: string): EmulatorDatabase {
  mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.exec(SCHEMA);
  return db;
}

/** Reads a value of the `meta` table, creating it with `create()` on first use. */
export function metaValue(db: EmulatorDatabase, key: string, create: () => string): string {
  const row = db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
  if (row !== undefined) return row.value;
  const value = create();
  db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run(key, value);
  return value;
}

/**
 * Group commit: queue writes made in one turn of the event loop share one transaction, committed on the
 * next turn. Whoever must not answer before the data is committed (a PUBACK, a twin response) waits with
 * {@link GroupCommit.whenDurable}. One commit per turn instead of one per message keeps thousands of
 * messages per second affordable.
 */
export class GroupCommit {
  readonly #db: EmulatorDatabase;
  #open = false;
  #immediate: NodeJS.Immediate | undefined;
  readonly #waiters: ((error?: Error) => void)[] = [];

  constructor(db: EmulatorDatabase) {
    this.#db = db;
  }

  /** Opens the shared transaction unless one is open; it commits on the next turn of the event loop. */
  join(): void {
    if (this.#open || this.#db.inTransaction) return;
    this.#db.exec('BEGIN');
    this.#open = true;
    this.#immediate = setImmediate(() => this.commit());
  }

  /** Calls `done` once everything written so far is committed (at once when nothing is pending). */
  whenDurable(done: (error?: Error) => void): void {
    if (this.#open) this.#waiters.push(done);
    else done();
  }

  durable(): Promise<void> {
    return new Promise((resolve, reject) => this.whenDurable((error) => (error ? reject(error) : resolve())));
  }

  /** Commits now (also used before closing the database). */
  commit(): void {
    if (!this.#open) return;
    this.#open = false;
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#immediate = undefined;
    let failure: Error | undefined;
    try {
      this.#db.exec('COMMIT');
    } catch (error) {
      failure = error instanceof Error ? error : new Error(String(error));
      try {
        this.#db.exec('ROLLBACK');
      } catch {
        // nothing left to roll back
      }
    }
    for (const done of this.#waiters.splice(0, this.#waiters.length)) done(failure);
  }
}
