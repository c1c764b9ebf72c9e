import { randomUUID } from 'node:crypto';
import { Outbox, type SqliteDatabase, applyMigrations, configProblems, openDatabase } from '@takt/edge-kit';
import {
  type BreakReason,
  type ChainBreak,
  ChainVerifier,
  GENESIS_HASH,
  type StoredRow,
  indexColumns,
  linkHashFromCanonical,
  macKeyId,
  macOf,
} from '../domain/chain.js';
import { CanonicalizeError, canonicalize } from '../domain/jcs.js';
import { type AuditRecord, AuditRecordSchema, MAX_RECORD_BYTES, normalizeRecord } from '../domain/record.js';
import { AuditError } from '../errors.js';
import { auditMigrations } from './schema.js';

/** Name of the edge-kit outbox (tables `audit_fwd_*`) that feeds the `forward` output. */
export const FORWARD_OUTBOX = 'audit_fwd';
/** The module output forwarded records go to (routed to `$upstream`). */
export const FORWARD_OUTPUT = 'forward';

/** A record with its chain fields, as queries return it and as it is forwarded upstream. */
export interface ChainedRecord {
  chain: string;
  seq: number;
  recordedAt: string;
  prevHash: string;
  hash: string;
  mac?: string;
  record: AuditRecord;
}

/** What an append did. */
export interface AppendOutcome {
  seq: number;
  hash: string;
  /** True when a record with the same source module and source message id was already stored. */
  duplicate: boolean;
}

export interface AuditStoreOptions {
  /** HMAC-SHA256 key (≥ 32 bytes); when set every new record carries a MAC. */
  macKey?: Buffer | undefined;
  /** Open for reading only (verifier, exports): no migrations, no writes. */
  readonly?: boolean;
  now?: () => Date;
  newChainId?: () => string;
}

/** The verification outcome (also the CLI's JSON output). */
export interface VerifyReport {
  status: 'intact' | 'broken';
  chain: string;
  /** Range actually checked. */
  from: number;
  to: number;
  checked: number;
  head: number;
  /** Records up to here were pruned behind an anchor (0: none). */
  prunedThroughSeq: number;
  macChecked: boolean;
  firstBroken?: ChainBreak;
}

/** Filters of {@link AuditStore.query}. */
export interface QueryFilter {
  instanceId?: string | undefined;
  batchId?: string | undefined;
  actorId?: string | undefined;
  /** Exact action, or a prefix ending in `.*` (`deviation.*`). */
  action?: string | undefined;
  /** Source timestamps, inclusive (epoch ms). */
  fromMs?: number | undefined;
  toMs?: number | undefined;
  /** Paging: records after this sequence number. */
  afterSeq?: number | undefined;
  /** Records per page. Default 100. */
  limit?: number | undefined;
  /** Stop a page before its JSON exceeds this. Default 100,000 (method payloads are limited to 128 KB). */
  maxBytes?: number | undefined;
}

export interface QueryPage {
  records: ChainedRecord[];
  /** Pass as `afterSeq` for the next page; null when this was the last. */
  nextAfterSeq: number | null;
}

export interface PruneOptions {
  /** Records recorded before now − retention may go (once forwarded). */
  retentionMs: number;
  /** Most records deleted in one call (keeps the transaction short). Default 10,000. */
  maxRecords?: number;
}

export interface PruneReport {
  pruned: number;
  throughSeq: number;
  /** Sequence number of the `audit.pruned` record appended to the chain, when something was pruned. */
  anchorRecordSeq?: number;
}

interface AnchorRow {
  through_seq: number;
  last_hash: string;
  pruned_at: string;
  pruned_count: number;
  mac: string | null;
}

/** SQLite failures as coded errors: the triggers' refusals become AUDIT_STORE_READONLY. */
function translateStoreError(error: unknown, message: string): AuditError {
  if (error instanceof AuditError) return error;
  const text = error instanceof Error ? error.message : String(error);
  if (text.includes('AUDIT_STORE_READONLY')) {
    return new AuditError('AUDIT_STORE_READONLY', text, { cause: error });
  }
  return new AuditError('AUDIT_STORE_FAILED', message, { cause: error });
}

const META_CHAIN = 'chain_id';
const META_HIGH_WATER = 'high_water_seq';
const META_MAC_KEY_ID = 'mac_key_id';
const META_MAC_FROM = 'mac_from_seq';
const VERIFY_CHUNK = 2_000;

/** The result of validating one submitted record. */
export type ValidationResult =
  { ok: true; record: AuditRecord } | { ok: false; problems: { path: string; message: string }[] };

/** Validates, normalizes and size-checks a submitted record; never throws. */
export function validateRecord(input: unknown): ValidationResult {
  const parsed = AuditRecordSchema.safeParse(input);
  if (!parsed.success) return { ok: false, problems: configProblems(parsed.error) };
  const record = normalizeRecord(parsed.data);
  let text: string;
  try {
    text = canonicalize(record);
  } catch (error) {
    const path = error instanceof CanonicalizeError ? error.path : '(root)';
    return { ok: false, problems: [{ path, message: error instanceof Error ? error.message : String(error) }] };
  }
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_RECORD_BYTES) {
    return {
      ok: false,
      problems: [{ path: '(root)', message: `record is ${bytes} bytes canonical; the limit is ${MAX_RECORD_BYTES}` }],
    };
  }
  if (Number.isNaN(Date.parse(record.timestamp))) {
    return { ok: false, problems: [{ path: 'timestamp', message: 'not a valid time' }] };
  }
  return { ok: true, record };
}

/**
 * The append-only, hash-chained audit store in one SQLite file (WAL, synchronous=FULL). Appends are
 * synchronous and join the caller's transaction; every appended record is also put in the forward
 * outbox in the same transaction.
 *
 * @example
 * const store = AuditStore.open('/app/data/audit.db', { macKey });
 * store.appendMany([record]); // committed and fsync'd when it returns
 * store.verify(); // { status: 'intact', … }
 */
export class AuditStore {
  readonly db: SqliteDatabase;
  readonly chainId: string;
  /** Feeds the `forward` output (undefined when read-only). */
  readonly outbox: Outbox | undefined;
  private readonly macKey: Buffer | undefined;
  private readonly now: () => Date;
  private headSeq: number;
  private headHash: string;
  private readonly stmt;

  static open(file: string, options: AuditStoreOptions = {}): AuditStore {
    const db = openDatabase(file, options.readonly ? { readonly: true } : {});
    try {
      return new AuditStore(db, options);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  constructor(db: SqliteDatabase, options: AuditStoreOptions = {}) {
    this.db = db;
    this.now = options.now ?? (() => new Date());
    this.macKey = options.macKey;
    if (options.macKey && options.macKey.length < 32) {
      throw new AuditError('AUDIT_MAC_KEY_INVALID', 'the MAC key must be at least 32 bytes');
    }
    if (!options.readonly) applyMigrations(db, 'audit', auditMigrations);
    const meta = (key: string): string | undefined =>
      (db.prepare('SELECT value FROM audit_meta WHERE key = ?').pluck().get(key) as string | undefined) ?? undefined;
    let chain = meta(META_CHAIN);
    if (chain === undefined) {
      if (options.readonly) throw new AuditError('AUDIT_NOT_FOUND', 'the database holds no audit chain');
      chain = (options.newChainId ?? randomUUID)();
      db.prepare('INSERT INTO audit_meta (key, value) VALUES (?, ?)').run(META_CHAIN, chain);
    }
    this.chainId = chain;
    const last = db.prepare('SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1').get() as
      { seq: number; hash: string } | undefined;
    const anchor = this.latestAnchor();
    this.headSeq = last?.seq ?? anchor?.through_seq ?? 0;
    this.headHash = last?.hash ?? anchor?.last_hash ?? GENESIS_HASH;
    if (!options.readonly) {
      this.checkMacKey(meta(META_MAC_KEY_ID));
      this.outbox = new Outbox(db, { name: FORWARD_OUTBOX });
    } else {
      this.outbox = undefined;
    }
    this.stmt = {
      find: db.prepare('SELECT seq, hash FROM audit_records WHERE source_module = ? AND source_message_id = ?'),
      insert: db.prepare(
        `INSERT INTO audit_records (seq, recorded_at, prev_hash, hash, mac, body, source_module, source_message_id,
           ts_ms, actor_id, action, instance_id, batch_id)
         VALUES (@seq, @recorded_at, @prev_hash, @hash, @mac, @body, @source_module, @source_message_id,
           @ts_ms, @actor_id, @action, @instance_id, @batch_id)`,
      ),
      setMeta: db.prepare(
        'INSERT INTO audit_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
      ),
      meta: db.prepare('SELECT value FROM audit_meta WHERE key = ?').pluck(),
      rows: db.prepare('SELECT * FROM audit_records WHERE seq >= ? AND seq <= ? ORDER BY seq LIMIT ?'),
      hashAt: db.prepare('SELECT hash FROM audit_records WHERE seq = ?').pluck(),
      park: db.prepare(
        'INSERT INTO audit_parked (received_at, origin, message_id, code, problems, body) VALUES (?, ?, ?, ?, ?, ?)',
      ),
    };
  }

  /** Highest sequence number stored (0 for an empty chain). */
  get head(): { seq: number; hash: string } {
    return { seq: this.headSeq, hash: this.headHash };
  }

  get macEnabled(): boolean {
    return this.macKey !== undefined;
  }

  /**
   * Validates `input`; throws AUDIT_RECORD_INVALID listing the problems. Use for synchronous writers.
   */
  validate(input: unknown): AuditRecord {
    const result = validateRecord(input);
    if (result.ok) return result.record;
    throw new AuditError(
      'AUDIT_RECORD_INVALID',
      `audit record refused: ${result.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`,
      { details: { problems: result.problems } },
    );
  }

  /**
   * Appends validated records in one transaction (committed and fsync'd on return, unless the
   * caller's surrounding transaction is still open). Duplicates are answered with the stored record.
   */
  appendMany(records: readonly AuditRecord[]): AppendOutcome[] {
    const savedSeq = this.headSeq;
    const savedHash = this.headHash;
    try {
      const run = (): AppendOutcome[] => {
        const out = records.map((record) => this.appendOne(record));
        this.stmt.setMeta.run(META_HIGH_WATER, String(this.headSeq));
        return out;
      };
      return this.db.inTransaction ? run() : this.db.transaction(run)();
    } catch (error) {
      this.headSeq = savedSeq;
      this.headHash = savedHash;
      throw translateStoreError(error, 'audit records could not be committed; nothing was stored');
    }
  }

  /**
   * Runs `fn` in one transaction (nested: a savepoint) and keeps the in-memory chain head consistent
   * with what committed: when `fn` throws, everything it appended is rolled back and forgotten.
   */
  transaction<T>(fn: () => T): T {
    const savedSeq = this.headSeq;
    const savedHash = this.headHash;
    try {
      return this.db.transaction(fn)();
    } catch (error) {
      this.headSeq = savedSeq;
      this.headHash = savedHash;
      throw error;
    }
  }

  /** Keeps a record that could not be accepted, with its reason (input path: never dropped silently). */
  park(origin: string, messageId: string | undefined, code: string, problems: unknown, body: string): number {
    const info = this.stmt.park.run(
      this.now().toISOString(),
      origin,
      messageId ?? null,
      code,
      JSON.stringify(problems),
      body.slice(0, 256 * 1024),
    );
    return Number(info.lastInsertRowid);
  }

  /** Parked records, newest first. */
  parked(limit = 100): { id: number; receivedAt: string; origin: string; messageId: string | null; code: string }[] {
    return (
      this.db
        .prepare('SELECT id, received_at, origin, message_id, code FROM audit_parked ORDER BY id DESC LIMIT ?')
        .all(limit) as { id: number; received_at: string; origin: string; message_id: string | null; code: string }[]
    ).map((r) => ({ id: r.id, receivedAt: r.received_at, origin: r.origin, messageId: r.message_id, code: r.code }));
  }

  private appendOne(record: AuditRecord): AppendOutcome {
    const existing = this.stmt.find.get(record.sourceModule, record.sourceMessageId) as
      { seq: number; hash: string } | undefined;
    if (existing) return { seq: existing.seq, hash: existing.hash, duplicate: true };
    const seq = this.headSeq + 1;
    const recordedAt = this.now().toISOString();
    const prevHash = this.headHash;
    const body = canonicalize(record);
    const hash = linkHashFromCanonical({ chain: this.chainId, seq, recordedAt, prevHash, canonicalRecord: body });
    const mac = this.macKey ? macOf(this.macKey, hash) : null;
    this.stmt.insert.run({
      seq,
      recorded_at: recordedAt,
      prev_hash: prevHash,
      hash,
      mac,
      body,
      ...indexColumns(record),
    });
    this.outbox?.append({
      channel: FORWARD_OUTPUT,
      id: `${this.chainId}:${seq}`,
      source: this.chainId,
      body: this.toChained({ seq, recordedAt, prevHash, hash, mac }, record),
      properties: { 'audit-chain': this.chainId, 'audit-seq': String(seq), 'audit-hash': hash },
    });
    this.headSeq = seq;
    this.headHash = hash;
    return { seq, hash, duplicate: false };
  }

  private toChained(
    row: { seq: number; recordedAt: string; prevHash: string; hash: string; mac: string | null },
    record: AuditRecord,
  ): ChainedRecord {
    return {
      chain: this.chainId,
      seq: row.seq,
      recordedAt: row.recordedAt,
      prevHash: row.prevHash,
      hash: row.hash,
      ...(row.mac === null ? {} : { mac: row.mac }),
      record,
    };
  }

  private fromRow(row: StoredRow): ChainedRecord {
    return this.toChained(
      { seq: row.seq, recordedAt: row.recorded_at, prevHash: row.prev_hash, hash: row.hash, mac: row.mac },
      JSON.parse(row.body) as AuditRecord,
    );
  }

  private checkMacKey(storedId: string | undefined): void {
    if (this.macKey) {
      const id = macKeyId(this.macKey);
      if (storedId !== undefined && storedId !== id) {
        throw new AuditError(
          'AUDIT_MAC_KEY_INVALID',
          'TAKT_AUDIT_MAC_KEY is not the key this chain was written with; provide the original key',
          { details: { expectedKeyId: storedId, keyId: id } },
        );
      }
      if (storedId === undefined) {
        this.db.transaction(() => {
          this.stmt_setMeta(META_MAC_KEY_ID, id);
          this.stmt_setMeta(META_MAC_FROM, String(this.headSeq + 1));
        })();
      }
    } else if (storedId !== undefined) {
      throw new AuditError(
        'AUDIT_MAC_KEY_INVALID',
        'this audit chain is MAC-protected but TAKT_AUDIT_MAC_KEY is not set; provide the key',
        { details: { expectedKeyId: storedId } },
      );
    }
  }

  private stmt_setMeta(key: string, value: string): void {
    this.db
      .prepare(
        'INSERT INTO audit_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
      )
      .run(key, value);
  }

  private metaValue(key: string): string | undefined {
    return (this.stmt.meta.get(key) as string | undefined) ?? undefined;
  }

  latestAnchor(): AnchorRow | undefined {
    return this.db.prepare('SELECT * FROM audit_anchors ORDER BY through_seq DESC LIMIT 1').get() as
      AnchorRow | undefined;
  }

  /**
   * Verifies the chain (or `from`…`to`) in one go. With a MAC key (default: the store's key; `null`:
   * none) every MAC from the first MAC-protected record on is checked too.
   */
  verify(range: { from?: number | undefined; to?: number | undefined } = {}, macKey?: Buffer | null): VerifyReport {
    const steps = this.verifySteps(range, macKey);
    for (;;) {
      const step = steps.next();
      if (step.done) return step.value;
    }
  }

  /**
   * The same as {@link verify}, in chunks: the generator yields after every few thousand records, so
   * a module can verify a long chain without blocking its event loop.
   */
  *verifySteps(
    range: { from?: number | undefined; to?: number | undefined } = {},
    macKeyOption?: Buffer | null,
  ): Generator<number, VerifyReport, void> {
    const macKey = macKeyOption === null ? undefined : (macKeyOption ?? this.macKey);
    if (range.from !== undefined && range.to !== undefined && range.from > range.to) {
      throw new AuditError('AUDIT_QUERY_INVALID', `from (${range.from}) is after to (${range.to})`, {
        details: { problems: [{ path: 'from', message: 'must not be after to' }] },
      });
    }
    const anchor = this.latestAnchor();
    const lowest = (anchor?.through_seq ?? 0) + 1;
    const lastRow = this.db.prepare('SELECT MAX(seq) FROM audit_records').pluck().get() as number | null;
    const head = lastRow ?? anchor?.through_seq ?? 0;
    const from = Math.max(range.from ?? lowest, lowest);
    const to = Math.min(range.to ?? head, head);
    const fullTail = range.to === undefined || range.to >= head;
    const macFrom = Number(this.metaValue(META_MAC_FROM) ?? '1');
    const report = (verifier: ChainVerifier | undefined, broken?: ChainBreak): VerifyReport => ({
      status: broken ? 'broken' : 'intact',
      chain: this.chainId,
      from,
      to,
      checked: verifier?.checked ?? 0,
      head,
      prunedThroughSeq: anchor?.through_seq ?? 0,
      macChecked: macKey !== undefined,
      ...(broken ? { firstBroken: broken } : {}),
    });
    const fail = (seq: number, reason: BreakReason, detail: string): VerifyReport =>
      report(undefined, { seq, reason, detail });

    if (anchor && macKey && anchor.through_seq >= macFrom) {
      const expected = macOf(
        macKey,
        canonicalize({ chain: this.chainId, throughSeq: anchor.through_seq, lastHash: anchor.last_hash }),
      );
      if (anchor.mac !== expected) return fail(lowest, 'mac-mismatch', 'the prune anchor does not carry a valid MAC');
    }
    let prevHash: string;
    if (from === lowest) prevHash = anchor?.last_hash ?? GENESIS_HASH;
    else {
      const before = this.stmt.hashAt.get(from - 1) as string | undefined;
      if (before === undefined) return fail(from - 1, 'gap', `record ${from - 1} is missing`);
      prevHash = before;
    }
    // MACs are only required from the first record written with a key (see README, "MAC").
    const verifier = new ChainVerifier({
      chain: this.chainId,
      expectedSeq: from,
      prevHash,
      macKey,
      macFromSeq: macFrom,
    });
    let anchorConfirmed = anchor === undefined || from > lowest;
    let cursor = from;
    while (cursor <= to) {
      const rows = this.stmt.rows.all(cursor, to, VERIFY_CHUNK) as StoredRow[];
      if (rows.length === 0) break;
      for (const row of rows) {
        const broken = verifier.check(row);
        if (broken) return report(verifier, broken);
        if (!anchorConfirmed && anchor && row.action === 'audit.pruned' && row.source_module === 'audit') {
          const details = (JSON.parse(row.body) as AuditRecord).details ?? {};
          if (details['throughSeq'] === anchor.through_seq && details['lastHash'] === anchor.last_hash) {
            anchorConfirmed = true;
          }
        }
      }
      cursor = (rows[rows.length - 1]?.seq ?? to) + 1;
      yield verifier.checked;
    }
    if (verifier.nextSeq <= to) {
      return report(
        verifier,
        verifier.fail({ seq: verifier.nextSeq, reason: 'gap', detail: 'records missing at the end of the range' }),
      );
    }
    if (fullTail) {
      const highWater = Number(this.metaValue(META_HIGH_WATER) ?? '0');
      if (highWater > head) {
        return report(
          verifier,
          verifier.fail({
            seq: head + 1,
            reason: 'truncated',
            detail: `records ${head + 1}…${highWater} were written but are gone`,
          }),
        );
      }
      if (!anchorConfirmed && anchor) {
        return report(
          verifier,
          verifier.fail({
            seq: anchor.through_seq + 1,
            reason: 'anchor-mismatch',
            detail: 'no audit.pruned record in the chain confirms the prune anchor',
          }),
        );
      }
    }
    return report(verifier);
  }

  /** One page of records matching `filter`, in sequence order. */
  query(filter: QueryFilter): QueryPage {
    const where: string[] = ['seq > ?'];
    const params: (string | number)[] = [filter.afterSeq ?? 0];
    if (filter.instanceId !== undefined) {
      where.push('instance_id = ?');
      params.push(filter.instanceId);
    }
    if (filter.batchId !== undefined) {
      where.push('batch_id = ?');
      params.push(filter.batchId);
    }
    if (filter.actorId !== undefined) {
      where.push('actor_id = ?');
      params.push(filter.actorId);
    }
    if (filter.action !== undefined) {
      if (filter.action.endsWith('.*')) {
        const prefix = filter.action.slice(0, -1);
        where.push('action >= ? AND action < ?');
        params.push(prefix, `${prefix}\uffff`);
      } else {
        where.push('action = ?');
        params.push(filter.action);
      }
    }
    if (filter.fromMs !== undefined) {
      where.push('ts_ms >= ?');
      params.push(filter.fromMs);
    }
    if (filter.toMs !== undefined) {
      where.push('ts_ms <= ?');
      params.push(filter.toMs);
    }
    const limit = Math.min(Math.max(1, filter.limit ?? 100), 1_000);
    const maxBytes = filter.maxBytes ?? 100_000;
    const rows = this.db
      .prepare(`SELECT * FROM audit_records WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ?`)
      .all(...params, limit + 1) as StoredRow[];
    const records: ChainedRecord[] = [];
    let bytes = 64;
    let more = rows.length > limit;
    for (const row of rows.slice(0, limit)) {
      const chained = this.fromRow(row);
      const size = Buffer.byteLength(JSON.stringify(chained)) + 1;
      if (records.length > 0 && bytes + size > maxBytes) {
        more = true;
        break;
      }
      bytes += size;
      records.push(chained);
    }
    const last = records[records.length - 1];
    return { records, nextAfterSeq: more && last ? last.seq : null };
  }

  /** Every record of one batch, in order (for exports). */
  batchRecords(batchId: string): ChainedRecord[] {
    const rows = this.db
      .prepare('SELECT * FROM audit_records WHERE batch_id = ? ORDER BY seq')
      .all(batchId) as StoredRow[];
    return rows.map((row) => this.fromRow(row));
  }

  /**
   * Highest sequence number handed to edgeHub for `$upstream` (the forward checkpoint): everything up
   * to it left the outbox after edgeHub confirmed it; nothing after the first record still waiting (or
   * dead-lettered) counts.
   */
  forwardedThroughSeq(): number {
    if (!this.outbox) return 0;
    const pending = this.db
      .prepare(`SELECT properties FROM ${FORWARD_OUTBOX}_messages ORDER BY seq LIMIT 1`)
      .pluck()
      .get() as string | null | undefined;
    const dead = this.db.prepare(`SELECT properties FROM ${FORWARD_OUTBOX}_dead ORDER BY seq LIMIT 1`).pluck().get() as
      string | null | undefined;
    const seqOf = (props: string | null | undefined): number | undefined => {
      if (!props) return undefined;
      const value = (JSON.parse(props) as Record<string, string>)['audit-seq'];
      return value === undefined ? undefined : Number(value);
    };
    const blocked = [seqOf(pending), seqOf(dead)].filter((v): v is number => v !== undefined);
    return blocked.length > 0 ? Math.min(...blocked) - 1 : this.headSeq;
  }

  /**
   * Deletes the oldest records that were forwarded and are older than the retention, behind an anchor
   * (`audit_anchors`: the last pruned sequence number and hash), and appends an `audit.pruned` record
   * that repeats the anchor — all in one transaction. The chain stays verifiable from the anchor.
   */
  prune(options: PruneOptions): PruneReport {
    const cutoff = new Date(this.now().getTime() - options.retentionMs).toISOString();
    const forwarded = this.forwardedThroughSeq();
    const anchor = this.latestAnchor();
    const lowest = (anchor?.through_seq ?? 0) + 1;
    const limit = Math.max(1, options.maxRecords ?? 10_000);
    // The contiguous prefix of old, forwarded records (a record's clock may step back: stop at the first young one).
    const firstYoung = this.db
      .prepare('SELECT MIN(seq) FROM audit_records WHERE seq >= ? AND recorded_at >= ?')
      .pluck()
      .get(lowest, cutoff) as number | null;
    let through = Math.min(forwarded, lowest + limit - 1, (firstYoung ?? this.headSeq + 1) - 1);
    // Never prune the newest record: the chain keeps a head row to link to.
    through = Math.min(through, this.headSeq - 1);
    if (through < lowest) return { pruned: 0, throughSeq: anchor?.through_seq ?? 0 };
    const lastHash = this.stmt.hashAt.get(through) as string | undefined;
    if (lastHash === undefined) {
      throw new AuditError('AUDIT_CHAIN_BROKEN', `record ${through} is missing; refusing to prune a broken chain`, {
        details: { seq: through, reason: 'gap' },
      });
    }
    const count = through - lowest + 1;
    const anchorMac = this.macKey
      ? macOf(this.macKey, canonicalize({ chain: this.chainId, throughSeq: through, lastHash }))
      : null;
    const prunedAt = this.now().toISOString();
    const prune = () =>
      this.transaction(() => {
        this.db
          .prepare(
            'INSERT INTO audit_anchors (through_seq, last_hash, pruned_at, pruned_count, mac) VALUES (?, ?, ?, ?, ?)',
          )
          .run(through, lastHash, prunedAt, count, anchorMac);
        const deleted = this.db.prepare('DELETE FROM audit_records WHERE seq >= ? AND seq <= ?').run(lowest, through);
        const [appended] = this.appendMany([
          {
            sourceModule: 'audit',
            sourceMessageId: `prune:${through}`,
            timestamp: prunedAt,
            actor: { type: 'module', id: 'audit' },
            action: 'audit.pruned',
            target: { type: 'audit-chain', id: this.chainId },
            reason: `retention: records recorded before ${cutoff} and forwarded upstream`,
            details: { fromSeq: lowest, throughSeq: through, lastHash, count, retentionMs: options.retentionMs },
          },
        ]);
        return { deleted: deleted.changes, seq: appended?.seq };
      });
    let outcome: { deleted: number; seq: number | undefined };
    try {
      outcome = prune();
    } catch (error) {
      throw translateStoreError(error, 'pruning failed; nothing was deleted');
    }

    return {
      pruned: outcome.deleted,
      throughSeq: through,
      ...(outcome.seq === undefined ? {} : { anchorRecordSeq: outcome.seq }),
    };
  }

  /** Appends a record the audit module writes itself (parked records, prunes, start-up). */
  appendOwn(
    action: string,
    target: { type: string; id: string },
    details: Record<string, string | number | boolean>,
    reason?: string,
  ): AppendOutcome {
    const record = this.validate({
      sourceModule: 'audit',
      sourceMessageId: `${action}:${randomUUID()}`,
      timestamp: this.now().toISOString(),
      actor: { type: 'module', id: 'audit' },
      action,
      target,
      details,
      ...(reason === undefined ? {} : { reason }),
    });
    const [outcome] = this.appendMany([record]);
    return outcome as AppendOutcome;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
