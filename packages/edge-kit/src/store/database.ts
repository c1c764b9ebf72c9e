import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { EdgeKitError } from '../errors.js';

/** A better-sqlite3 connection. */
export type SqliteDatabase = Database.Database;

/** One forward-only schema step of a component. */
export interface Migration {
  /** 1, 2, 3 … per component, applied in order, each exactly once. */
  readonly version: number;
  readonly name: string;
  /** SQL script, or a function for data migrations. Runs inside the migration's transaction. */
  readonly up: string | ((db: SqliteDatabase) => void);
}

export interface OpenDatabaseOptions {
  /**
   * `FULL` (default): every commit is fsync'd, so a committed transaction survives power loss.
   * `NORMAL`: survives a process crash, not power loss (WAL is synced at checkpoints only).
   */
  synchronous?: 'FULL' | 'NORMAL';
  /** How long a writer waits for another connection's lock. Default 5,000 ms. */
  busyTimeoutMs?: number;
  /** Open read-only (tools such as a chain verifier). Default false. */
  readonly?: boolean;
}

/**
 * Opens (creating folder and file if needed) a SQLite database in WAL mode with foreign keys on.
 *
 * @example
 * const db = openDatabase('/data/orchestrator.db');
 * applyMigrations(db, 'outbox', outboxMigrations);
 */
export function openDatabase(file: string, options: OpenDatabaseOptions = {}): SqliteDatabase {
  try {
    if (!options.readonly && file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    const db = new Database(file, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
    db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5_000))}`);
    if (!options.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
    }
    db.pragma('foreign_keys = ON');
    return db;
  } catch (cause) {
    throw new EdgeKitError('STORE_OPEN_FAILED', `could not open SQLite database ${file}`, {
      cause,
      details: { file },
    });
  }
}

/**
 * Applies the not-yet-applied migrations of `component`, each in its own transaction, recorded in
 * `takt_migrations`. Several components can share one database file. Refuses a database that has
 * migrations newer than the code knows (a downgrade).
 */
export function applyMigrations(db: SqliteDatabase, component: string, migrations: readonly Migration[]): number {
  db.exec(`CREATE TABLE IF NOT EXISTS takt_migrations (
    component TEXT NOT NULL,
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    PRIMARY KEY (component, version)
  ) STRICT`);
  const sorted = [...migrations].sort((a, b) => a.version - b.version);
  sorted.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new EdgeKitError('STORE_MIGRATION_FAILED', `migrations of ${component} must be numbered 1, 2, 3 …`, {
        details: { component, version: m.version },
      });
    }
  });
  const row = db.prepare('SELECT MAX(version) AS version FROM takt_migrations WHERE component = ?').get(component) as
    { version: number | null } | undefined;
  const current = row?.version ?? 0;
  if (current > sorted.length) {
    throw new EdgeKitError(
      'STORE_MIGRATION_FAILED',
      `database has ${component} schema version ${current}, this code knows ${sorted.length}: refusing to downgrade`,
      { details: { component, current, known: sorted.length } },
    );
  }
  const record = db.prepare('INSERT INTO takt_migrations (component, version, name, applied_at) VALUES (?, ?, ?, ?)');
  let applied = 0;
  for (const migration of sorted.slice(current)) {
    try {
      db.transaction(() => {
        if (typeof migration.up === 'string') db.exec(migration.up);
        else migration.up(db);
        record.run(component, migration.version, migration.name, new Date().toISOString());
      })();
      applied += 1;
    } catch (cause) {
      throw new EdgeKitError(
        'STORE_MIGRATION_FAILED',
        `migration ${component} #${migration.version} (${migration.name}) failed and was rolled back`,
        { cause, details: { component, version: migration.version } },
      );
    }
  }
  return applied;
}
