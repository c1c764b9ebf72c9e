/**
 * The orchestrator's own SQLite file (`<dataDir>/orchestrator.db`), next to the engine's
 * (`engine.db`): the durable outbox towards edgeHub, emitted-event ids (de-duplication of
 * notifications the engine delivers at least once), per-instance status sequence numbers, open human
 * tasks (with their details), accepted-but-not-yet-started orders, users, and module flags (emergency stop).
 */
import { type SqliteDatabase, applyMigrations, openDatabase } from '@takt/edge-kit';

export function openStateDatabase(file: string): SqliteDatabase {
  const db = openDatabase(file);
  applyMigrations(db, 'orchestrator', [
    {
      version: 1,
      name: 'initial',
      up: `
        CREATE TABLE emitted (event_id TEXT PRIMARY KEY, at INTEGER NOT NULL);
        CREATE TABLE instance_seq (instance_id TEXT PRIMARY KEY, seq INTEGER NOT NULL);
        CREATE TABLE tasks (
          task_id TEXT PRIMARY KEY, instance_id TEXT NOT NULL, step_id TEXT NOT NULL, kind TEXT NOT NULL,
          roles TEXT NOT NULL, instructions TEXT NOT NULL, meaning TEXT, signature INTEGER NOT NULL,
          workflow_id TEXT NOT NULL, opened_at INTEGER NOT NULL, closed_at INTEGER);
        CREATE INDEX tasks_open ON tasks (closed_at, instance_id);
        CREATE TABLE pending_orders (order_id TEXT PRIMARY KEY, body TEXT NOT NULL, received_at INTEGER NOT NULL);
        CREATE TABLE users (
          name TEXT PRIMARY KEY, salt TEXT NOT NULL, hash TEXT NOT NULL, roles TEXT NOT NULL,
          created_at INTEGER NOT NULL, disabled INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE flags (name TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE instances (
          instance_id TEXT PRIMARY KEY, workflow_id TEXT NOT NULL, workflow_version TEXT NOT NULL,
          status TEXT NOT NULL, correlation_id TEXT, has_resources INTEGER NOT NULL DEFAULT 0,
          created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
        CREATE INDEX instances_status ON instances (status, created_at);
        CREATE TABLE schedule_runs (trigger_key TEXT PRIMARY KEY, last_run_ms INTEGER NOT NULL);
      `,
    },
    {
      version: 2,
      name: 'task details',
      // what an operator needs to answer a task: for an in-doubt device write, the action and its args
      up: `ALTER TABLE tasks ADD COLUMN details TEXT;`,
    },
  ]);
  return db;
}
