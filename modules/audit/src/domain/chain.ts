/**
 * The hash chain (pure: no I/O). Record n is bound to record n−1 by
 * `hash_n = SHA-256(JCS({v, chain, seq, recordedAt, prevHash: hash_{n−1}, record}))`, and, when a MAC
 * key is configured, `mac_n = HMAC-SHA256(key, hash_n)`. The SHA-256 chain detects a changed, removed
 * or re-ordered record; only the keyed MAC detects an attacker who rewrites the whole chain from the
 * changed record onwards (recomputing SHA-256 needs no secret).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { canonicalize } from './jcs.js';
import type { AuditRecord } from './record.js';

/** Chain format version, part of every hashed document. */
export const CHAIN_VERSION = 1;
/** `prevHash` of the first record of a chain. */
export const GENESIS_HASH = '0'.repeat(64);

/** What is hashed for one record. */
export interface ChainLink {
  chain: string;
  seq: number;
  recordedAt: string;
  prevHash: string;
  record: AuditRecord;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** The hash of one link (hex). */
export function linkHash(link: ChainLink): string {
  return sha256Hex(
    canonicalize({
      v: CHAIN_VERSION,
      chain: link.chain,
      seq: link.seq,
      recordedAt: link.recordedAt,
      prevHash: link.prevHash,
      record: link.record,
    }),
  );
}

/**
 * The same hash as {@link linkHash}, from the record's canonical text (saves canonicalizing the
 * record twice on the write path). The members of the hashed document in RFC 8785 order are
 * chain, prevHash, record, recordedAt, seq, v ("record" sorts before "recordedAt": it is a prefix).
 */
export function linkHashFromCanonical(link: Omit<ChainLink, 'record'> & { canonicalRecord: string }): string {
  return sha256Hex(
    `{"chain":${canonicalize(link.chain)},"prevHash":${canonicalize(link.prevHash)},"record":${link.canonicalRecord},` +
      `"recordedAt":${canonicalize(link.recordedAt)},"seq":${canonicalize(link.seq)},"v":${CHAIN_VERSION}}`,
  );
}

/** The keyed MAC of a hash (hex). */
export function macOf(key: Buffer, text: string): string {
  return createHmac('sha256', key).update(text, 'utf8').digest('hex');
}

/** A short public fingerprint of a MAC key, so a restart with a different key is noticed. */
export function macKeyId(key: Buffer): string {
  return createHash('sha256').update('takt-audit-mac-key-id:').update(key).digest('hex').slice(0, 16);
}

function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A row as the store holds it. */
export interface StoredRow {
  seq: number;
  recorded_at: string;
  prev_hash: string;
  hash: string;
  mac: string | null;
  body: string;
  source_module: string;
  source_message_id: string;
  ts_ms: number;
  actor_id: string;
  action: string;
  instance_id: string | null;
  batch_id: string | null;
}

/** The indexed columns derived from a record (must agree with the chained body). */
export function indexColumns(
  record: AuditRecord,
): Pick<
  StoredRow,
  'source_module' | 'source_message_id' | 'ts_ms' | 'actor_id' | 'action' | 'instance_id' | 'batch_id'
> {
  return {
    source_module: record.sourceModule,
    source_message_id: record.sourceMessageId,
    ts_ms: Date.parse(record.timestamp),
    actor_id: record.actor.id,
    action: record.action,
    instance_id: record.correlation?.instanceId ?? null,
    batch_id: record.correlation?.batchId ?? null,
  };
}

export type BreakReason =
  | 'gap'
  | 'hash-mismatch'
  | 'prev-hash-mismatch'
  | 'index-mismatch'
  | 'mac-missing'
  | 'mac-mismatch'
  | 'unreadable'
  | 'truncated'
  | 'anchor-mismatch';

/** The first place where the chain does not hold. */
export interface ChainBreak {
  seq: number;
  reason: BreakReason;
  detail: string;
}

export interface ChainVerifierOptions {
  chain: string;
  /** Sequence number the next row must carry. */
  expectedSeq: number;
  /** Hash the next row must link to. */
  prevHash: string;
  macKey?: Buffer | undefined;
  /** MACs are required from this sequence number on (the first record written with the key). Default 1. */
  macFromSeq?: number | undefined;
}

/**
 * Checks rows one by one in sequence order; the first problem is returned and the verifier stops
 * there (everything after a break is suspect anyway).
 */
export class ChainVerifier {
  private expectedSeq: number;
  private prevHash: string;
  private broken: ChainBreak | undefined;
  checked = 0;

  constructor(private readonly options: ChainVerifierOptions) {
    this.expectedSeq = options.expectedSeq;
    this.prevHash = options.prevHash;
  }

  get firstBreak(): ChainBreak | undefined {
    return this.broken;
  }

  /** Sequence number expected next (one past the last good row). */
  get nextSeq(): number {
    return this.expectedSeq;
  }

  get lastHash(): string {
    return this.prevHash;
  }

  /** Checks the next row; returns the break when this row breaks the chain. */
  check(row: StoredRow): ChainBreak | undefined {
    if (this.broken) return this.broken;
    const found = this.inspect(row);
    if (found) {
      this.broken = found;
      return found;
    }
    this.checked += 1;
    this.expectedSeq = row.seq + 1;
    this.prevHash = row.hash;
    return undefined;
  }

  /** Marks a break found outside the rows (e.g. truncation against the high-water mark). */
  fail(found: ChainBreak): ChainBreak {
    this.broken ??= found;
    return this.broken;
  }

  private inspect(row: StoredRow): ChainBreak | undefined {
    const seq = this.expectedSeq;
    if (row.seq !== seq) {
      return row.seq > seq
        ? { seq, reason: 'gap', detail: `records ${seq}…${row.seq - 1} are missing (next present is ${row.seq})` }
        : { seq, reason: 'gap', detail: `found ${row.seq} where ${seq} was expected (rows out of order)` };
    }
    let record: AuditRecord;
    try {
      record = JSON.parse(row.body) as AuditRecord;
    } catch {
      return { seq, reason: 'unreadable', detail: 'the stored body is not JSON' };
    }
    // The body is stored as the record's canonical text, so it is hashed as stored: any other spelling
    // of the same JSON is a modification too.
    const hash = linkHashFromCanonical({
      chain: this.options.chain,
      seq,
      recordedAt: row.recorded_at,
      prevHash: row.prev_hash,
      canonicalRecord: row.body,
    });
    if (!sameHex(hash, row.hash)) {
      return { seq, reason: 'hash-mismatch', detail: 'the record content does not match its stored hash' };
    }
    if (!sameHex(row.prev_hash, this.prevHash)) {
      return { seq, reason: 'prev-hash-mismatch', detail: 'the record does not link to the hash of its predecessor' };
    }
    const expected = indexColumns(record);
    for (const [column, value] of Object.entries(expected)) {
      if (row[column as keyof typeof expected] !== value) {
        return { seq, reason: 'index-mismatch', detail: `column ${column} does not match the chained record` };
      }
    }
    const key = this.options.macKey;
    if (key && seq >= (this.options.macFromSeq ?? 1)) {
      if (row.mac === null) return { seq, reason: 'mac-missing', detail: 'the record carries no MAC' };
      if (!sameHex(row.mac, macOf(key, row.hash))) {
        return { seq, reason: 'mac-mismatch', detail: 'the MAC does not match (chain rewritten without the key?)' };
      }
    }
    return undefined;
  }
}
