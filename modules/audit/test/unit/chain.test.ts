import { describe, expect, it } from 'vitest';
import {
  ChainVerifier,
  GENESIS_HASH,
  type StoredRow,
  canonicalize,
  indexColumns,
  linkHash,
  linkHashFromCanonical,
  macOf,
  validateRecord,
} from '../../src/index.js';
import { TEST_MAC_KEY, sampleRecord } from '../fixtures/records.js';

function valid(n: number) {
  const result = validateRecord(sampleRecord(n));
  if (!result.ok) throw new Error('sample record invalid');
  return result.record;
}

function chainOf(count: number, key?: Buffer): StoredRow[] {
  const rows: StoredRow[] = [];
  let prevHash = GENESIS_HASH;
  for (let seq = 1; seq <= count; seq += 1) {
    const record = valid(seq);
    const recordedAt = new Date(Date.UTC(2026, 0, 1) + seq).toISOString();
    const hash = linkHash({ chain: 'c1', seq, recordedAt, prevHash, record });
    rows.push({
      seq,
      recorded_at: recordedAt,
      prev_hash: prevHash,
      hash,
      mac: key ? macOf(key, hash) : null,
      body: canonicalize(record),
      ...indexColumns(record),
    });
    prevHash = hash;
  }
  return rows;
}

function verify(rows: readonly StoredRow[], key?: Buffer) {
  const verifier = new ChainVerifier({ chain: 'c1', expectedSeq: 1, prevHash: GENESIS_HASH, macKey: key });
  for (const row of rows) if (verifier.check(row)) break;
  return verifier.firstBreak;
}

describe('hash chain', () => {
  it('hashes the same from the canonical record text as from the record', () => {
    const record = valid(3);
    const link = { chain: 'c\u20ac"1', seq: 42, recordedAt: '2026-11-25T10:00:00.000Z', prevHash: GENESIS_HASH };
    expect(linkHashFromCanonical({ ...link, canonicalRecord: canonicalize(record) })).toBe(
      linkHash({ ...link, record }),
    );
  });

  it('accepts an intact chain and names the first broken row and why', () => {
    const key = Buffer.from(TEST_MAC_KEY);
    expect(verify(chainOf(10, key), key)).toBeUndefined();
    const changed = chainOf(10);
    changed[4] = { ...changed[4]!, body: changed[4]!.body.replace('step 5', 'step 6') };
    expect(verify(changed)).toMatchObject({ seq: 5, reason: 'hash-mismatch' });
    const gap = chainOf(10).filter((r) => r.seq !== 7);
    expect(verify(gap)).toMatchObject({ seq: 7, reason: 'gap' });
    const column = chainOf(10);
    column[2] = { ...column[2]!, batch_id: 'B-999' };
    expect(verify(column)).toMatchObject({ seq: 3, reason: 'index-mismatch' });
    const unlinked = chainOf(10);
    const other = chainOf(3);
    unlinked[0] = { ...other[0]!, prev_hash: '1'.repeat(64) };
    expect(verify(unlinked)).toMatchObject({ seq: 1 });
    const noMac = chainOf(4);
    expect(verify(noMac, key)).toMatchObject({ seq: 1, reason: 'mac-missing' });
    const wrongMac = chainOf(4, Buffer.from('another key another key another key'));
    expect(verify(wrongMac, key)).toMatchObject({ seq: 1, reason: 'mac-mismatch' });
    const garbage = chainOf(3);
    garbage[1] = { ...garbage[1]!, body: '{not json' };
    expect(verify(garbage)).toMatchObject({ seq: 2, reason: 'unreadable' });
  });
});
