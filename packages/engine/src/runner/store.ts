/**
 * The engine's SQLite store: definitions by hash, instances with snapshots, the event journal, the
 * command outbox and durable timers. One `commit` writes many instances' transitions in one
 * transaction (group commit): WAL + synchronous FULL, so one fsync covers the whole batch.
 */
import { type Migration, type SqliteDatabase, applyMigrations, openDatabase } from '@takt/edge-kit';
import type { Command, EngineEvent, InstanceState } from '../core/types.js';

const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'engine tables',
    up: `
      CREATE TABLE wf_definitions (
        hash TEXT PRIMARY KEY,
        workflow_id TEXT NOT NULL,
        version TEXT NOT NULL,
        body TEXT NOT NULL,
        registered_at INTEGER NOT NULL
      ) STRICT;
      CREATE TABLE wf_instances (
        id TEXT PRIMARY KEY,
        workflow_id TEXT NOT NULL,
        definition_hash TEXT NOT NULL,
        status TEXT NOT NULL,
        active INTEGER NOT NULL,
        idempotency_key TEXT UNIQUE,
        snapshot TEXT NOT NULL,
        snapshot_seq INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX wf_instances_active ON wf_instances (active) WHERE active = 1;
      CREATE TABLE wf_journal (
        instance_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        at INTEGER NOT NULL,
        event TEXT NOT NULL,
        PRIMARY KEY (instance_id, seq)
      ) STRICT, WITHOUT ROWID;
      CREATE TABLE wf_outbox (
        id TEXT PRIMARY KEY,
        instance_id TEXT NOT NULL,
        command TEXT NOT NULL
      ) STRICT;
      CREATE TABLE wf_timers (
        id TEXT PRIMARY KEY,
        instance_id TEXT NOT NULL,
        due_at INTEGER NOT NULL
      ) STRICT;
    `,
  },
];

/** One instance's transition, as the store writes it. */
export interface TransitionRecord {
  instanceId: string;
  event: EngineEvent;
  state: InstanceState;
  commands: readonly Command[];
  /** Write the full state (status change, every N events, terminal). A start writes none: replay of its event is the state. */
  snapshot: boolean;
  terminal: boolean;
  /** The result event's command was kept in the outbox table (not in the state's own outbox). */
  resultRowInTable: boolean;
  /** Keep notification commands (status, alerts, tasks, watches) in the outbox: someone carries them out. */
  keepNotifications: boolean;
}

export interface StoredInstance {
  id: string;
  workflowId: string;
  definitionHash: string;
  status: string;
  /** Undefined until the first snapshot: replay the journal from the start event. */
  snapshot: InstanceState | undefined;
  snapshotSeq: number;
}

/** Commands kept in the outbox until carried out (dispatches until their result is journaled). */
const OUTBOX_TYPES = new Set([
  'dispatch',
  'task.open',
  'task.close',
  'alert',
  'watch',
  'child.start',
  'child.cancel',
  'status',
]);

const NOTIFICATION_TYPES = new Set(['task.open', 'task.close', 'alert', 'watch', 'status']);

/** The outbox id of a command. */
export function outboxId(command: Command, seq: number, index: number): string {
  switch (command.type) {
    case 'dispatch':
      return command.commandId;
    case 'task.open':
    case 'task.close':
      return `${command.type}:${command.taskId}`;
    case 'child.start':
    case 'child.cancel':
      return `${command.type}:${command.childId}`;
    default:
      return `${command.type}:${command.instanceId}:${seq}:${index}`;
  }
}

export class EngineStore {
  readonly db: SqliteDatabase;
  private readonly stmt;

  constructor(file: string, options: { synchronous?: 'FULL' | 'NORMAL' } = {}) {
    this.db = openDatabase(file, { synchronous: options.synchronous ?? 'FULL' });
    applyMigrations(this.db, 'engine', migrations);
    const db = this.db;
    this.stmt = {
      insertDefinition: db.prepare(
        'INSERT OR IGNORE INTO wf_definitions (hash, workflow_id, version, body, registered_at) VALUES (?, ?, ?, ?, ?)',
      ),
      definitions: db.prepare('SELECT hash, body FROM wf_definitions ORDER BY registered_at, rowid'),
      insertInstance: db.prepare(
        `INSERT INTO wf_instances (id, workflow_id, definition_hash, status, active, idempotency_key, snapshot, snapshot_seq, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      updateSnapshot: db.prepare(
        'UPDATE wf_instances SET status = ?, active = ?, snapshot = ?, snapshot_seq = ?, updated_at = ? WHERE id = ?',
      ),
      insertJournal: db.prepare('INSERT INTO wf_journal (instance_id, seq, at, event) VALUES (?, ?, ?, ?)'),
      insertOutbox: db.prepare('INSERT OR REPLACE INTO wf_outbox (id, instance_id, command) VALUES (?, ?, ?)'),
      deleteOutbox: db.prepare('DELETE FROM wf_outbox WHERE id = ?'),
      insertTimer: db.prepare('INSERT OR REPLACE INTO wf_timers (id, instance_id, due_at) VALUES (?, ?, ?)'),
      deleteTimer: db.prepare('DELETE FROM wf_timers WHERE id = ?'),
      active: db.prepare(
        'SELECT id, workflow_id, definition_hash, status, snapshot, snapshot_seq FROM wf_instances WHERE active = 1',
      ),
      instance: db.prepare(
        'SELECT id, workflow_id, definition_hash, status, snapshot, snapshot_seq FROM wf_instances WHERE id = ?',
      ),
      byKey: db.prepare('SELECT id FROM wf_instances WHERE idempotency_key = ?'),
      journalAfter: db.prepare('SELECT event FROM wf_journal WHERE instance_id = ? AND seq > ? ORDER BY seq'),
      journal: db.prepare('SELECT seq, at, event FROM wf_journal WHERE instance_id = ? ORDER BY seq LIMIT ? OFFSET ?'),
      outbox: db.prepare('SELECT id, instance_id, command FROM wf_outbox ORDER BY rowid'),
      timers: db.prepare('SELECT id, instance_id, due_at FROM wf_timers'),
      counts: db.prepare('SELECT status, COUNT(*) AS n FROM wf_instances GROUP BY status'),
    };
  }

  saveDefinition(hash: string, workflowId: string, version: string, body: string, atMs: number): void {
    this.stmt.insertDefinition.run(hash, workflowId, version, body, atMs);
  }

  loadDefinitions(): { hash: string; body: string }[] {
    return this.stmt.definitions.all() as { hash: string; body: string }[];
  }

  /** Writes a batch of transitions and outbox deletions in one transaction. */
  commit(records: readonly TransitionRecord[], outboxDeletes: readonly string[]): void {
    const s = this.stmt;
    this.db.transaction(() => {
      for (const id of outboxDeletes) s.deleteOutbox.run(id);
      for (const r of records) {
        const state = r.state;
        const active = r.terminal ? 0 : 1;
        if (r.event.type === 'start') {
          s.insertInstance.run(
            r.instanceId,
            state.workflowId,
            state.definitionHash,
            state.status,
            active,
            state.idempotencyKey ?? null,
            r.snapshot ? JSON.stringify(state) : '',
            r.snapshot ? state.seq : 0,
            state.createdAtMs,
            state.updatedAtMs,
          );
        } else if (r.snapshot) {
          s.updateSnapshot.run(state.status, active, JSON.stringify(state), state.seq, state.updatedAtMs, r.instanceId);
        }
        s.insertJournal.run(r.instanceId, state.seq, r.event.atMs, JSON.stringify(r.event));
        if (r.event.type === 'result' && r.resultRowInTable) s.deleteOutbox.run(r.event.commandId);
        else if (r.event.type === 'timer') s.deleteTimer.run(r.event.timerId);
        for (const [index, command] of r.commands.entries()) {
          if (command.type === 'timer.set') {
            if (!r.terminal) s.insertTimer.run(command.timerId, r.instanceId, command.dueAtMs);
          } else if (command.type === 'timer.cancel') {
            s.deleteTimer.run(command.timerId);
          } else if (OUTBOX_TYPES.has(command.type)) {
            if (r.terminal && command.type === 'dispatch') continue;
            // Awaited dispatches live in the state's outbox (journaled with this transition).
            if (command.type === 'dispatch' && state.outbox[command.commandId] !== undefined) continue;
            if (!r.keepNotifications && NOTIFICATION_TYPES.has(command.type)) continue;
            s.insertOutbox.run(outboxId(command, state.seq, index), r.instanceId, JSON.stringify(command));
          }
        }
      }
    })();
  }

  deleteOutbox(ids: readonly string[]): void {
    if (ids.length === 0) return;
    this.db.transaction(() => {
      for (const id of ids) this.stmt.deleteOutbox.run(id);
    })();
  }

  private toStored(row: Record<string, unknown>): StoredInstance {
    return {
      id: row['id'] as string,
      workflowId: row['workflow_id'] as string,
      definitionHash: row['definition_hash'] as string,
      status: row['status'] as string,
      snapshot: row['snapshot'] === '' ? undefined : (JSON.parse(row['snapshot'] as string) as InstanceState),
      snapshotSeq: row['snapshot_seq'] as number,
    };
  }

  activeInstances(): StoredInstance[] {
    return (this.stmt.active.all() as Record<string, unknown>[]).map((row) => this.toStored(row));
  }

  instance(id: string): StoredInstance | undefined {
    const row = this.stmt.instance.get(id) as Record<string, unknown> | undefined;
    return row === undefined ? undefined : this.toStored(row);
  }

  instanceByKey(key: string): string | undefined {
    return (this.stmt.byKey.get(key) as { id: string } | undefined)?.id;
  }

  journalAfter(instanceId: string, seq: number): EngineEvent[] {
    return (this.stmt.journalAfter.all(instanceId, seq) as { event: string }[]).map(
      (row) => JSON.parse(row.event) as EngineEvent,
    );
  }

  history(instanceId: string, limit: number, offset: number): { seq: number; atMs: number; event: EngineEvent }[] {
    return (this.stmt.journal.all(instanceId, limit, offset) as { seq: number; at: number; event: string }[]).map(
      (row) => ({ seq: row.seq, atMs: row.at, event: JSON.parse(row.event) as EngineEvent }),
    );
  }

  outbox(): { id: string; instanceId: string; command: Command }[] {
    return (this.stmt.outbox.all() as { id: string; instance_id: string; command: string }[]).map((row) => ({
      id: row.id,
      instanceId: row.instance_id,
      command: JSON.parse(row.command) as Command,
    }));
  }

  timers(): { id: string; instanceId: string; dueAtMs: number }[] {
    return (this.stmt.timers.all() as { id: string; instance_id: string; due_at: number }[]).map((row) => ({
      id: row.id,
      instanceId: row.instance_id,
      dueAtMs: row.due_at,
    }));
  }

  counts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const row of this.stmt.counts.all() as { status: string; n: number }[]) out[row.status] = row.n;
    return out;
  }

  /**
   * Compaction: drops journal rows already covered by a snapshot, keeping the last `keepEvents` of
   * each instance as readable history, and removes instances that ended before `endedBeforeMs`.
   */
  compact(keepEvents: number, endedBeforeMs: number | undefined): { journalRows: number; instances: number } {
    return this.db.transaction(() => {
      let instances = 0;
      let journalRows = 0;
      if (endedBeforeMs !== undefined) {
        journalRows += this.db
          .prepare(
            'DELETE FROM wf_journal WHERE instance_id IN (SELECT id FROM wf_instances WHERE active = 0 AND updated_at < ?)',
          )
          .run(endedBeforeMs).changes;
        instances = this.db
          .prepare('DELETE FROM wf_instances WHERE active = 0 AND updated_at < ?')
          .run(endedBeforeMs).changes;
      }
      journalRows += this.db
        .prepare(
          `DELETE FROM wf_journal WHERE (instance_id, seq) IN (
             SELECT j.instance_id, j.seq FROM wf_journal j JOIN wf_instances i ON i.id = j.instance_id
             WHERE j.seq <= i.snapshot_seq - ?)`,
        )
        .run(Math.max(0, keepEvents)).changes;
      return { journalRows, instances };
    })();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
