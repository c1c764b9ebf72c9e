/**
 * Everything the orchestrator tells the rest of the plant goes through here: `status` (instance and
 * step lifecycle), `audit` (records for modules/audit) and `alerts`. Each message is appended to the
 * durable outbox in one transaction with its de-duplication row, so a notification the engine delivers
 * twice (at least once, after a crash) is emitted once, and per-instance `seq` numbers have no gaps.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Outbox, SqliteDatabase } from '@takt/edge-kit';

export type StatusEventType =
  | 'instance.started'
  | 'instance.state'
  | 'step.started'
  | 'step.completed'
  | 'step.failed'
  | 'instance.completed'
  | 'instance.failed'
  | 'alert';

/** The `status` output body (contract with cloud-bridge). */
export interface StatusEvent {
  eventId: string;
  type: StatusEventType;
  instanceId: string;
  workflowId: string;
  workflowVersion: string;
  state: string;
  step?: string;
  at: string;
  site?: string;
  line?: string;
  unit?: string;
  severity?: 'info' | 'warning' | 'critical';
  variables?: Record<string, unknown>;
  error?: { code: string; message: string };
  seq: number;
}

/** Electronic signature block (21 CFR 11.50): signer, meaning, time, how the signer was authenticated. */
export interface AuditSignature {
  signer: string;
  signerName?: string;
  meaning: string;
  time: string;
  method?: string;
}

export interface AuditCorrelation {
  instanceId?: string;
  batchId?: string;
  workflowId?: string;
  workflowVersion?: string;
  stepId?: string;
}

/** The `audit` output body: the record schema of modules/audit (`AuditRecordSchema`, strict). */
export interface AuditRecord {
  sourceModule: 'orchestrator';
  sourceMessageId: string;
  timestamp: string;
  actor: { type: 'user' | 'module'; id: string; name?: string };
  action: string;
  target: { type: string; id: string; name?: string };
  before?: unknown;
  after?: unknown;
  reason?: string;
  signature?: AuditSignature;
  correlation?: AuditCorrelation;
  details?: Record<string, unknown>;
}

/** What callers give {@link Emitter.audit}: `id` (the source message id) defaults to a fresh UUID. */
export type AuditInput = Omit<AuditRecord, 'sourceModule' | 'sourceMessageId' | 'timestamp'> & { id?: string };

const ACTION = /^[a-zA-Z][a-zA-Z0-9_-]*(\.[a-zA-Z0-9_-]+)*$/;

/** Makes an action fit the audit module's pattern (dotted words). */
export function auditAction(action: string): string {
  if (ACTION.test(action) && action.length <= 128) return action;
  const cleaned = action
    .replace(/[^a-zA-Z0-9_.-]/g, '_')
    .replace(/\.{2,}/g, '.')
    .replace(/^[^a-zA-Z]+/, '')
    .replace(/\.$/, '')
    .slice(0, 128);
  return cleaned === '' ? 'record' : cleaned;
}

export interface AlertMessage {
  alertId: string;
  severity: 'info' | 'warning' | 'critical';
  code: string;
  message: string;
  at: string;
  instanceId?: string;
  workflowId?: string;
  step?: string;
  taskId?: string;
}

export interface PlantContext {
  site?: string;
  line?: string;
  unit?: string;
}

/** Listener for the console's live stream. */
export type LiveListener = (channel: 'status' | 'audit' | 'alerts', body: unknown) => void;

/** A stable id from the parts that identify an event (so a repeated notification gets the same id). */
export function stableId(...parts: readonly (string | number)[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 32);
}

export class Emitter {
  private readonly stmt;
  private readonly listeners = new Set<LiveListener>();
  private context: PlantContext = {};

  constructor(
    private readonly db: SqliteDatabase,
    private readonly outbox: Outbox,
    private readonly now: () => number = Date.now,
  ) {
    this.stmt = {
      seen: db.prepare<[string], number>('SELECT 1 FROM emitted WHERE event_id = ?').pluck(),
      mark: db.prepare('INSERT INTO emitted (event_id, at) VALUES (?, ?)'),
      seq: db.prepare<[string], number>('SELECT seq FROM instance_seq WHERE instance_id = ?').pluck(),
      setSeq: db.prepare(
        'INSERT INTO instance_seq (instance_id, seq) VALUES (?, ?) ON CONFLICT (instance_id) DO UPDATE SET seq = excluded.seq',
      ),
      prune: db.prepare('DELETE FROM emitted WHERE at < ?'),
    };
  }

  setContext(context: PlantContext): void {
    this.context = { ...context };
  }

  onLive(listener: LiveListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Appends a status event unless `eventId` was emitted before; returns it (or undefined when a duplicate). */
  status(
    event: Omit<StatusEvent, 'seq' | 'at' | 'eventId'> & { eventId: string; at?: string },
  ): StatusEvent | undefined {
    let out: StatusEvent | undefined;
    this.db.transaction(() => {
      if (this.stmt.seen.get(event.eventId) !== undefined) return;
      this.stmt.mark.run(event.eventId, this.now());
      const seq = (this.stmt.seq.get(event.instanceId) ?? 0) + 1;
      this.stmt.setSeq.run(event.instanceId, seq);
      out = {
        ...event,
        at: event.at ?? new Date(this.now()).toISOString(),
        ...withoutUndefined(this.context),
        seq,
      };
      this.outbox.append({
        channel: 'status',
        id: out.eventId,
        source: out.instanceId,
        body: out,
        properties: { type: out.type, workflowId: out.workflowId, instanceId: out.instanceId },
      });
    })();
    if (out !== undefined) this.publish('status', out);
    return out;
  }

  audit(input: AuditInput): AuditRecord | undefined {
    const { id, ...record } = input;
    const recordId = id ?? randomUUID();
    let out: AuditRecord | undefined;
    this.db.transaction(() => {
      if (this.stmt.seen.get(recordId) !== undefined) return;
      this.stmt.mark.run(recordId, this.now());
      // A JSON round trip drops undefined members: the audit module refuses what it cannot chain.
      out = JSON.parse(
        JSON.stringify({
          sourceModule: 'orchestrator',
          sourceMessageId: recordId,
          timestamp: new Date(this.now()).toISOString(),
          ...record,
          action: auditAction(record.action),
          ...(record.reason === undefined ? {} : { reason: record.reason.slice(0, 4096) }),
        }),
      ) as AuditRecord;
      this.outbox.append({
        channel: 'audit',
        id: recordId,
        source: 'audit',
        body: out,
        properties: { action: out.action },
      });
    })();
    if (out !== undefined) this.publish('audit', out);
    return out;
  }

  alert(alert: Omit<AlertMessage, 'at'> & { at?: string }): AlertMessage | undefined {
    let out: AlertMessage | undefined;
    this.db.transaction(() => {
      if (this.stmt.seen.get(alert.alertId) !== undefined) return;
      this.stmt.mark.run(alert.alertId, this.now());
      out = { ...alert, at: alert.at ?? new Date(this.now()).toISOString() };
      // Every alert is also on the record (the audit batch report lists `alert.*`).
      this.audit({
        id: `audit:${alert.alertId}`,
        actor: { type: 'module', id: 'orchestrator' },
        action: 'alert.raised',
        target:
          alert.instanceId === undefined
            ? { type: 'module', id: 'orchestrator' }
            : { type: 'instance', id: alert.instanceId },
        details: { severity: alert.severity, code: alert.code, message: alert.message.slice(0, 1024) },
        ...(alert.instanceId === undefined
          ? {}
          : {
              correlation: {
                instanceId: alert.instanceId,
                ...(alert.workflowId === undefined ? {} : { workflowId: alert.workflowId }),
                ...(alert.step === undefined ? {} : { stepId: alert.step }),
              },
            }),
      });
      this.outbox.append({
        channel: 'alerts',
        id: alert.alertId,
        source: 'alerts',
        body: { ...out, ...withoutUndefined(this.context) },
        properties: { severity: out.severity, code: out.code },
      });
    })();
    if (out !== undefined) this.publish('alerts', out);
    return out;
  }

  /** Drops de-duplication rows older than `maxAgeMs` (default 7 days). */
  prune(maxAgeMs = 7 * 24 * 3600_000): void {
    this.stmt.prune.run(this.now() - maxAgeMs);
  }

  private publish(channel: 'status' | 'audit' | 'alerts', body: unknown): void {
    for (const listener of this.listeners) {
      try {
        listener(channel, body);
      } catch {
        this.listeners.delete(listener);
      }
    }
  }
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [key, item] of Object.entries(value) as [keyof T, T[keyof T]][]) {
    if (item !== undefined) out[key] = item;
  }
  return out;
}
