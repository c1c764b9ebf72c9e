import { type SqliteDatabase, applyMigrations } from './database.js';

export interface InboxOptions {
  /** Table prefix. Default `inbox`. */
  name?: string;
  /** Remember at least this many recent ids. Default 100,000. */
  windowSize?: number;
  /** …and every id younger than this. Default 24 h. */
  windowMs?: number;
  now?: () => number;
}

/** The outcome of {@link Inbox.receive}. */
export type InboxResult<T> = { duplicate: true } | { duplicate: false; result: T };

/**
 * De-duplicates incoming messages by id (edgeHub delivers at least once). `receive()` records the id
 * and applies the message's effect in one transaction: a message is applied exactly once, and a crash
 * in between leaves neither. Ids are remembered within a bounded window (count and age).
 */
export class Inbox {
  readonly name: string;
  private readonly windowSize: number;
  private readonly windowMs: number;
  private readonly now: () => number;
  private sincePrune = 0;
  private readonly insert: { run(id: string, at: number): { changes: number } };
  private readonly pruneByCount: { run(keep: number): unknown };
  private readonly pruneByAge: { run(before: number, keep: number): unknown };
  private readonly has: { get(id: string): unknown };

  constructor(
    private readonly db: SqliteDatabase,
    options: InboxOptions = {},
  ) {
    this.name = options.name ?? 'inbox';
    if (!/^[a-z][a-z0-9_]{0,40}$/.test(this.name)) throw new TypeError(`invalid inbox name ${this.name}`);
    this.windowSize = Math.max(1, options.windowSize ?? 100_000);
    this.windowMs = Math.max(0, options.windowMs ?? 24 * 3_600_000);
    this.now = options.now ?? Date.now;
    const t = this.name;
    applyMigrations(db, t, [
      {
        version: 1,
        name: 'create inbox',
        up: `CREATE TABLE ${t}_ids (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, received_at INTEGER NOT NULL);`,
      },
    ]);
    this.insert = db.prepare(`INSERT OR IGNORE INTO ${t}_ids (id, received_at) VALUES (?, ?)`);
    this.has = db.prepare(`SELECT 1 FROM ${t}_ids WHERE id = ?`).pluck();
    // Forget ids beyond the newest `keep` ones…
    this.pruneByCount = db.prepare(`DELETE FROM ${t}_ids WHERE seq <= (SELECT MAX(seq) FROM ${t}_ids) - ?`);
    // …unless they are younger than the time window.
    this.pruneByAge = db.prepare(
      `DELETE FROM ${t}_ids WHERE received_at < ? AND seq <= (SELECT MAX(seq) FROM ${t}_ids) - ?`,
    );
  }

  /**
   * Applies `effect` unless `id` was seen within the window. `effect` runs inside the transaction: put
   * the message's state changes (and outbox appends) there.
   */
  receive<T>(id: string, effect: () => T): InboxResult<T> {
    const run = (): InboxResult<T> => {
      const { changes } = this.insert.run(id, this.now());
      if (changes === 0) return { duplicate: true };
      return { duplicate: false, result: effect() };
    };
    const outcome = this.db.inTransaction ? run() : this.db.transaction(run)();
    if (!outcome.duplicate) this.maybePrune();
    return outcome;
  }

  /** True when `id` is within the remembered window. */
  seen(id: string): boolean {
    return this.has.get(id) !== undefined;
  }

  private maybePrune(): void {
    this.sincePrune += 1;
    if (this.sincePrune < 1_000) return;
    this.sincePrune = 0;
    // Keep the newest windowSize ids regardless of age, and anything younger than windowMs.
    this.pruneByAge.run(this.now() - this.windowMs, this.windowSize);
  }

  /** Applies the window now (normally done every 1,000 receipts). */
  prune(): void {
    this.sincePrune = 0;
    this.pruneByAge.run(this.now() - this.windowMs, this.windowSize);
  }

  /** Drops everything beyond the newest `keep` ids (for tools). */
  truncate(keep: number): void {
    this.pruneByCount.run(keep);
  }
}
