import type { Migration } from '@takt/edge-kit';

/**
 * The audit tables. Records are append-only: triggers refuse UPDATE and DELETE (RAISE(ABORT)) except
 * the pruning of rows already covered by an anchor. This stops accidents and careless tools (a DB
 * browser, a stray script); it does not stop a deliberate attacker, who can drop the triggers or
 * write the file with another program — that is what the hash chain and the MAC detect.
 */
export const auditMigrations: readonly Migration[] = [
  {
    version: 1,
    name: 'create audit chain',
    up: `
      CREATE TABLE audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
      CREATE TABLE audit_records (
        seq INTEGER PRIMARY KEY,
        recorded_at TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        mac TEXT,
        body TEXT NOT NULL,
        source_module TEXT NOT NULL,
        source_message_id TEXT NOT NULL,
        ts_ms INTEGER NOT NULL,
        actor_id TEXT NOT NULL,
        action TEXT NOT NULL,
        instance_id TEXT,
        batch_id TEXT
      ) STRICT;
      CREATE UNIQUE INDEX audit_records_source ON audit_records (source_module, source_message_id);
      CREATE INDEX audit_records_instance ON audit_records (instance_id, seq) WHERE instance_id IS NOT NULL;
      CREATE INDEX audit_records_batch ON audit_records (batch_id, seq) WHERE batch_id IS NOT NULL;
      CREATE INDEX audit_records_actor ON audit_records (actor_id, seq);
      CREATE INDEX audit_records_action ON audit_records (action, seq);
      CREATE INDEX audit_records_ts ON audit_records (ts_ms);
      CREATE TABLE audit_anchors (
        through_seq INTEGER PRIMARY KEY,
        last_hash TEXT NOT NULL,
        pruned_at TEXT NOT NULL,
        pruned_count INTEGER NOT NULL,
        mac TEXT
      ) STRICT;
      CREATE TABLE audit_parked (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        received_at TEXT NOT NULL,
        origin TEXT NOT NULL,
        message_id TEXT,
        code TEXT NOT NULL,
        problems TEXT NOT NULL,
        body TEXT NOT NULL
      ) STRICT;
      CREATE TRIGGER audit_records_no_update BEFORE UPDATE ON audit_records
      BEGIN SELECT RAISE(ABORT, 'AUDIT_STORE_READONLY: audit records cannot be changed'); END;
      CREATE TRIGGER audit_records_no_delete BEFORE DELETE ON audit_records
      WHEN OLD.seq > COALESCE((SELECT MAX(through_seq) FROM audit_anchors), 0)
      BEGIN SELECT RAISE(ABORT, 'AUDIT_STORE_READONLY: audit records cannot be deleted (only pruned behind an anchor)'); END;
      CREATE TRIGGER audit_anchors_no_update BEFORE UPDATE ON audit_anchors
      BEGIN SELECT RAISE(ABORT, 'AUDIT_STORE_READONLY: anchors cannot be changed'); END;
      CREATE TRIGGER audit_anchors_no_delete BEFORE DELETE ON audit_anchors
      BEGIN SELECT RAISE(ABORT, 'AUDIT_STORE_READONLY: anchors cannot be deleted'); END;
      CREATE TRIGGER audit_anchors_forward_only BEFORE INSERT ON audit_anchors
      WHEN NEW.through_seq <= COALESCE((SELECT MAX(through_seq) FROM audit_anchors), 0)
      BEGIN SELECT RAISE(ABORT, 'AUDIT_STORE_READONLY: anchors only move forward'); END;
      CREATE TRIGGER audit_parked_no_update BEFORE UPDATE ON audit_parked
      BEGIN SELECT RAISE(ABORT, 'AUDIT_STORE_READONLY: parked records cannot be changed'); END;
      CREATE TRIGGER audit_parked_no_delete BEFORE DELETE ON audit_parked
      BEGIN SELECT RAISE(ABORT, 'AUDIT_STORE_READONLY: parked records cannot be deleted'); END;
    `,
  },
];
