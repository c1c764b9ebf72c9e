import { afterEach, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { type TempDir, createTempDir, spawnTs } from '@takt/test-support';
import { type SqliteDatabase, openDatabase } from '@takt/edge-kit';
import {
  AuditStore,
  type AuditStoreOptions,
  FORWARD_OUTBOX,
  GroupWriter,
  type StoredRow,
  linkHash,
  macOf,
  runCli,
} from '../../src/index.js';
import { TEST_MAC_KEY, sampleRecord } from '../fixtures/records.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempDir(): Promise<TempDir> {
  const dir = await createTempDir('takt-audit-');
  cleanups.push(() => dir.remove());
  return dir;
}

function openStore(file: string, options: AuditStoreOptions = {}): AuditStore {
  const store = AuditStore.open(file, options);
  cleanups.push(() => store.close());
  return store;
}

/** The attacker: another connection to the same file, writing past the triggers. */
function attacker(file: string): SqliteDatabase {
  const db = openDatabase(file);
  cleanups.push(() => {
    if (db.open) db.close();
  });
  db.exec('DROP TRIGGER audit_records_no_update; DROP TRIGGER audit_records_no_delete;');
  return db;
}

async function filledStore(
  count: number,
  options: AuditStoreOptions = {},
): Promise<{ file: string; store: AuditStore }> {
  const dir = await tempDir();
  const file = dir.join('audit.db');
  const store = openStore(file, options);
  store.appendMany(Array.from({ length: count }, (_, i) => store.validate(sampleRecord(i + 1))));
  return { file, store };
}

describe('AuditStore: chain, durability rules, tamper detection', () => {
  it('chains records with gap-free sequence numbers, ignores duplicates and verifies intact', async () => {
    const { store } = await filledStore(20);
    expect(store.head.seq).toBe(20);
    const again = store.appendMany([store.validate(sampleRecord(7)), store.validate(sampleRecord(21))]);
    expect(again[0]).toMatchObject({ seq: 7, duplicate: true });
    expect(again[1]).toMatchObject({ seq: 21, duplicate: false });
    expect(store.db.prepare('SELECT COUNT(*) FROM audit_records').pluck().get()).toBe(21);
    const report = store.verify();
    expect(report).toMatchObject({ status: 'intact', from: 1, to: 21, checked: 21, head: 21 });
    // every record is also queued for the forward output, in order, with its chain fields
    const queued = store.outbox?.peek(100) ?? [];
    expect(queued.map((m) => m.properties['audit-seq'])).toEqual(Array.from({ length: 21 }, (_, i) => String(i + 1)));
    const first = JSON.parse(queued[0]!.body.toString('utf8')) as { seq: number; prevHash: string; hash: string };
    expect(first.prevHash).toBe('0'.repeat(64));
    expect(first.hash).toBe(store.db.prepare('SELECT hash FROM audit_records WHERE seq = 1').pluck().get());
  });

  it('refuses UPDATE and DELETE through the triggers (AUDIT_STORE_READONLY)', async () => {
    const { file } = await filledStore(3);
    const other = openDatabase(file);
    cleanups.push(() => {
      other.close();
    });
    expect(() => other.prepare("UPDATE audit_records SET actor_id = 'mallory' WHERE seq = 2").run()).toThrow(
      /AUDIT_STORE_READONLY/,
    );
    expect(() => other.prepare('DELETE FROM audit_records WHERE seq = 2').run()).toThrow(/AUDIT_STORE_READONLY/);
    expect(() => other.prepare('DELETE FROM audit_records').run()).toThrow(/AUDIT_STORE_READONLY/);
    expect(other.prepare('SELECT COUNT(*) FROM audit_records').pluck().get()).toBe(3);
  });

  it('detects one changed field of one row (in the chained body) at its sequence number', async () => {
    const { file, store } = await filledStore(30);
    attacker(file)
      .prepare("UPDATE audit_records SET body = json_set(body, '$.reason', 'nothing to see') WHERE seq = 17")
      .run();
    expect(store.verify().firstBroken).toMatchObject({ seq: 17, reason: 'hash-mismatch' });
  });

  it('detects one changed indexed column (actor) at its sequence number', async () => {
    const { file, store } = await filledStore(30);
    attacker(file).prepare("UPDATE audit_records SET actor_id = 'mallory' WHERE seq = 9").run();
    expect(store.verify().firstBroken).toMatchObject({ seq: 9, reason: 'index-mismatch' });
  });

  it('detects a deleted row at its sequence number (gap)', async () => {
    const { file, store } = await filledStore(30);
    attacker(file).prepare('DELETE FROM audit_records WHERE seq = 12').run();
    expect(store.verify().firstBroken).toMatchObject({ seq: 12, reason: 'gap' });
  });

  it('detects two re-ordered rows at the first of them', async () => {
    const { file, store } = await filledStore(30);
    const db = attacker(file);
    // swap rows 5 and 6 (their seq values) inside one transaction
    db.transaction(() => {
      db.prepare('UPDATE audit_records SET seq = -1 WHERE seq = 5').run();
      db.prepare('UPDATE audit_records SET seq = 5 WHERE seq = 6').run();
      db.prepare('UPDATE audit_records SET seq = 6 WHERE seq = -1').run();
    })();
    expect(store.verify().firstBroken).toMatchObject({ seq: 5 });
    expect(['hash-mismatch', 'prev-hash-mismatch']).toContain(store.verify().firstBroken?.reason);
  });

  it('detects a truncated tail against the high-water mark', async () => {
    const { file, store } = await filledStore(10);
    attacker(file).prepare('DELETE FROM audit_records WHERE seq >= 9').run();
    expect(store.verify().firstBroken).toMatchObject({ seq: 9, reason: 'truncated' });
  });

  it('without a MAC a fully recomputed chain passes; with the MAC on it is caught at the changed record', async () => {
    const key = Buffer.from(TEST_MAC_KEY);
    for (const withMac of [false, true]) {
      const { file, store } = await filledStore(25, withMac ? { macKey: key } : {});
      const db = attacker(file);
      // rewrite record 11 and recompute every hash from there on (no key needed for SHA-256)
      const rows = db.prepare('SELECT * FROM audit_records ORDER BY seq').all() as StoredRow[];
      let prevHash = rows[9]!.hash;
      db.transaction(() => {
        for (const row of rows.slice(10)) {
          const record = JSON.parse(row.body) as Record<string, unknown>;
          if (row.seq === 11) record['reason'] = 'rewritten';
          const body = JSON.stringify(record);
          const hash = linkHash({
            chain: store.chainId,
            seq: row.seq,
            recordedAt: row.recorded_at,
            prevHash,
            record: record as never,
          });
          // the attacker guesses a key for the MAC column
          const mac = row.mac === null ? null : macOf(Buffer.from('not-the-key-not-the-key-not-the-key'), hash);
          db.prepare('UPDATE audit_records SET body = ?, prev_hash = ?, hash = ?, mac = ? WHERE seq = ?').run(
            body,
            prevHash,
            hash,
            mac,
            row.seq,
          );
          prevHash = hash;
        }
      })();
      const report = store.verify();
      if (withMac) expect(report.firstBroken).toMatchObject({ seq: 11, reason: 'mac-mismatch' });
      else expect(report.status).toBe('intact');
      // without the key the MAC-protected chain's SHA-256 links alone look fine
      if (withMac) expect(store.verify({}, null)).toMatchObject({ status: 'intact', macChecked: false });
    }
  });

  it('refuses to open a MAC-protected chain without its key, or with another key', async () => {
    const { file, store } = await filledStore(2, { macKey: Buffer.from(TEST_MAC_KEY) });
    store.close();
    expect(() => AuditStore.open(file)).toThrow(expect.objectContaining({ code: 'AUDIT_MAC_KEY_INVALID' }));
    expect(() => AuditStore.open(file, { macKey: Buffer.from('x'.repeat(40)) })).toThrow(
      expect.objectContaining({ code: 'AUDIT_MAC_KEY_INVALID' }),
    );
    expect(() => AuditStore.open(file, { macKey: Buffer.from('short') })).toThrow(
      expect.objectContaining({ code: 'AUDIT_MAC_KEY_INVALID' }),
    );
    const reopened = openStore(file, { macKey: Buffer.from(TEST_MAC_KEY) });
    expect(reopened.verify()).toMatchObject({ status: 'intact', macChecked: true, checked: 2 });
  });

  it('verifies a range, and the CLI prints JSON with exit code 0 intact / 1 broken', async () => {
    const { file, store } = await filledStore(40);
    expect(store.verify({ from: 10, to: 20 })).toMatchObject({ status: 'intact', from: 10, to: 20, checked: 11 });
    expect(() => store.verify({ from: 20, to: 10 })).toThrow(expect.objectContaining({ code: 'AUDIT_QUERY_INVALID' }));
    const ok = runCli(['verify', '--db', file], {});
    expect(ok.exitCode).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ status: 'intact', checked: 40 });
    attacker(file).prepare("UPDATE audit_records SET body = json_set(body, '$.action', 'x.y') WHERE seq = 33").run();
    const broken = runCli(['verify', '--db', file, '--from', '30', '--to', '35'], {});
    expect(broken.exitCode).toBe(1);
    expect(JSON.parse(broken.stdout)).toMatchObject({
      status: 'broken',
      firstBroken: { seq: 33, reason: 'hash-mismatch' },
    });
    expect(runCli(['verify', '--db', file, '--to', '20'], {}).exitCode).toBe(0);
    expect(runCli(['verify'], {}).exitCode).toBe(2);
  });

  it('prunes only forwarded records past retention, behind an anchor, and stays verifiable', async () => {
    const dir = await tempDir();
    const file = dir.join('audit.db');
    let now = Date.UTC(2026, 0, 1);
    const key = Buffer.from(TEST_MAC_KEY);
    const store = openStore(file, { macKey: key, now: () => new Date(now) });
    store.appendMany(Array.from({ length: 50 }, (_, i) => store.validate(sampleRecord(i + 1))));
    now += 10 * 86_400_000;
    store.appendMany(Array.from({ length: 10 }, (_, i) => store.validate(sampleRecord(i + 51))));
    // nothing forwarded yet: nothing may go
    expect(store.prune({ retentionMs: 86_400_000 })).toMatchObject({ pruned: 0 });
    // the sender confirmed the first 40 (the outbox removes them)
    const sent = store.outbox!.peek(40);
    store.outbox!.remove(sent.map((m) => m.seq));
    expect(store.forwardedThroughSeq()).toBe(40);
    const result = store.prune({ retentionMs: 86_400_000 });
    expect(result).toMatchObject({ pruned: 40, throughSeq: 40, anchorRecordSeq: 61 });
    expect(store.verify()).toMatchObject({ status: 'intact', from: 41, prunedThroughSeq: 40, macChecked: true });
    // young records are kept even when forwarded
    store.outbox!.remove(store.outbox!.peek(100).map((m) => m.seq));
    expect(store.prune({ retentionMs: 86_400_000 })).toMatchObject({ pruned: 10, throughSeq: 50 });
    expect(store.verify()).toMatchObject({ status: 'intact', from: 51 });
    // a forged anchor (rows deleted, anchor added by hand) is noticed
    const db = openDatabase(file);
    cleanups.push(() => {
      db.close();
    });
    const hash55 = db.prepare('SELECT hash FROM audit_records WHERE seq = 55').pluck().get() as string;
    db.prepare("INSERT INTO audit_anchors VALUES (55, ?, '2026-01-01T00:00:00.000Z', 5, NULL)").run(hash55);
    db.prepare('DELETE FROM audit_records WHERE seq <= 55').run();
    expect(store.verify().firstBroken).toMatchObject({ seq: 56, reason: 'mac-mismatch' });
    expect(store.verify({}, null).firstBroken).toMatchObject({ seq: 56, reason: 'anchor-mismatch' });
  });

  it('a rolled-back transaction leaves no trace in the chain head; the refusal of a delete is coded', async () => {
    const { store } = await filledStore(5);
    expect(() =>
      store.transaction(() => {
        store.appendMany([store.validate(sampleRecord(6))]);
        throw new Error('later step failed');
      }),
    ).toThrow('later step failed');
    expect(store.head.seq).toBe(5);
    expect(store.appendMany([store.validate(sampleRecord(7))])[0]).toMatchObject({ seq: 6, duplicate: false });
    expect(store.verify()).toMatchObject({ status: 'intact', checked: 6 });
    expect(() => store.transaction(() => store.db.prepare('DELETE FROM audit_records WHERE seq = 1').run())).toThrow(
      /AUDIT_STORE_READONLY/,
    );
  });

  it('the CLI as a process: exit 0 intact, 1 broken, JSON on stdout', async () => {
    const { file } = await filledStore(12);
    const cli = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
    const intact = spawnTs(cli, ['verify', '--db', file], { name: 'cli' });
    expect(await intact.waitForExit(30_000)).toBe(0);
    expect(JSON.parse(intact.output())).toMatchObject({ status: 'intact', checked: 12 });
    attacker(file).prepare('DELETE FROM audit_records WHERE seq = 4').run();
    const broken = spawnTs(cli, ['verify', '--db', file], { name: 'cli' });
    expect(await broken.waitForExit(30_000)).toBe(1);
    expect(JSON.parse(broken.output())).toMatchObject({ status: 'broken', firstBroken: { seq: 4, reason: 'gap' } });
  });

  it('group commit: records submitted in one turn share one transaction, each resolved after commit', async () => {
    const dir = await tempDir();
    const store = openStore(dir.join('audit.db'));
    let commits = 0;
    const writer = new GroupWriter(store, { onCommit: () => (commits += 1) });
    const outcomes = await Promise.all(
      Array.from({ length: 500 }, (_, i) => writer.submit(store.validate(sampleRecord(i + 1)))),
    );
    expect(commits).toBe(1);
    expect(outcomes.map((o) => o.seq)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    const dup = await writer.submit(store.validate(sampleRecord(3)));
    expect(dup).toMatchObject({ seq: 3, duplicate: true });
    expect(store.verify()).toMatchObject({ status: 'intact', checked: 500 });
  });

  it('queries by instance, batch, actor, action prefix and time, paged to a byte budget', async () => {
    const { store } = await filledStore(200);
    const byInstance = store.query({ instanceId: 'inst-1', limit: 1000 });
    expect(byInstance.records.every((r) => r.record.correlation?.instanceId === 'inst-1')).toBe(true);
    expect(byInstance.records).toHaveLength(50);
    expect(store.query({ action: 'device.*', limit: 1000 }).records).toHaveLength(100);
    expect(store.query({ actorId: 'operator-0', batchId: 'B-1', limit: 1000 }).records.length).toBeGreaterThan(0);
    const from = Date.UTC(2026, 10, 25, 10, 0, 0) + 10_000;
    const timed = store.query({ fromMs: from, toMs: from + 9_000 });
    expect(timed.records.map((r) => r.seq)).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    // paging by bytes: every page fits, together they are everything, in order
    const seen: number[] = [];
    let after: number | null = 0;
    for (let page = 0; page < 100 && after !== null; page += 1) {
      const result = store.query({ afterSeq: after, limit: 1000, maxBytes: 8_000 });
      expect(Buffer.byteLength(JSON.stringify(result))).toBeLessThan(8_500);
      seen.push(...result.records.map((r) => r.seq));
      after = result.nextAfterSeq;
    }
    expect(seen).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
  });

  it('validates records: bad ones are refused with AUDIT_RECORD_INVALID and every problem', async () => {
    const { store } = await filledStore(0);
    expect(() => store.validate({ ...sampleRecord(1), actor: { type: 'robot', id: '' }, extra: 1 })).toThrow(
      expect.objectContaining({ code: 'AUDIT_RECORD_INVALID' }),
    );
    const refused = (() => {
      try {
        store.validate({ ...sampleRecord(1), timestamp: 'yesterday', extra: 1 });
        return undefined;
      } catch (error) {
        return error as { code: string; details: { problems: { path: string }[] } };
      }
    })();
    expect(refused?.code).toBe('AUDIT_RECORD_INVALID');
    expect(refused?.details.problems.map((p) => p.path).sort()).toEqual(['(root)', 'timestamp']);
    expect(() => store.validate({ ...sampleRecord(1), after: { big: 'x'.repeat(70_000) } })).toThrow(
      expect.objectContaining({ code: 'AUDIT_RECORD_INVALID' }),
    );
    expect(store.db.prepare(`SELECT COUNT(*) FROM ${FORWARD_OUTBOX}_messages`).pluck().get()).toBe(0);
  });
});
