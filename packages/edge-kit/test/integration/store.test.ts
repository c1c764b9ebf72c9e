import { afterEach, describe, expect, it } from 'vitest';
import { type TempDir, createTempDir, waitFor } from '@takt/test-support';
import {
  EdgeKitError,
  Inbox,
  Outbox,
  type OutboxMessage,
  OutboxSender,
  type SqliteDatabase,
  applyMigrations,
  openDatabase,
} from '../../src/index.js';

describe('SQLite store', () => {
  let dir: TempDir;
  const open: SqliteDatabase[] = [];
  const db = (name = 'store.db') => {
    const handle = openDatabase(dir.join(name));
    open.push(handle);
    return handle;
  };
  afterEach(async () => {
    for (const handle of open.splice(0)) handle.close();
    await dir.remove();
  });
  const setup = async () => {
    dir = await createTempDir();
  };

  it('opens in WAL mode with synchronous FULL and applies migrations once, refusing downgrades', async () => {
    await setup();
    const handle = db();
    expect(handle.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(handle.pragma('synchronous', { simple: true })).toBe(2);
    const migrations = [
      { version: 1, name: 'a', up: 'CREATE TABLE a (x INTEGER) STRICT' },
      { version: 2, name: 'b', up: 'CREATE TABLE b (x INTEGER) STRICT' },
    ];
    expect(applyMigrations(handle, 'c', migrations)).toBe(2);
    expect(applyMigrations(handle, 'c', migrations)).toBe(0);
    expect(() => applyMigrations(handle, 'c', migrations.slice(0, 1))).toThrow(
      expect.objectContaining({ code: 'STORE_MIGRATION_FAILED' }) as Error,
    );
    const broken = [...migrations, { version: 3, name: 'bad', up: 'CREATE TABLE a (x INTEGER)' }];
    expect(() => applyMigrations(handle, 'c', broken)).toThrow(
      expect.objectContaining({ code: 'STORE_MIGRATION_FAILED' }) as Error,
    );
    expect(applyMigrations(handle, 'other', [{ version: 1, name: 'x', up: 'CREATE TABLE o (x INTEGER) STRICT' }])).toBe(
      1,
    );
  });

  it('reports a database it cannot open with STORE_OPEN_FAILED', async () => {
    await setup();
    const { writeFileSync } = await import('node:fs');
    writeFileSync(dir.join('a-file'), 'not a folder');
    expect(() => openDatabase(dir.join('a-file', 'sub', 'x.db'))).toThrow(
      expect.objectContaining({ code: 'STORE_OPEN_FAILED' }) as Error,
    );
  });

  it('outbox append is atomic with the surrounding transaction and numbers each source', async () => {
    await setup();
    const handle = db();
    const outbox = new Outbox(handle);
    handle.exec('CREATE TABLE state (v INTEGER)');
    expect(() =>
      handle.transaction(() => {
        handle.exec('INSERT INTO state VALUES (1)');
        outbox.append({ channel: 'status', body: { a: 1 }, source: 'i1' });
        throw new Error('rollback');
      })(),
    ).toThrow('rollback');
    expect(outbox.size()).toBe(0);
    const a = outbox.append({ channel: 'status', body: { a: 1 }, source: 'i1' });
    const b = outbox.append({ channel: 'status', body: { a: 2 }, source: 'i2' });
    const c = outbox.append({ channel: 'status', body: Buffer.from([1, 2]), source: 'i1', properties: { k: 'v' } });
    expect([a.sourceSeq, b.sourceSeq, c.sourceSeq]).toEqual([1, 1, 2]);
    const peeked = outbox.peek(10);
    expect(peeked.map((m) => m.id)).toEqual([a.id, b.id, c.id]);
    expect(peeked[2]).toMatchObject({ contentType: 'application/octet-stream', properties: { k: 'v' } });
    expect(JSON.parse(peeked[0]!.body.toString('utf8'))).toEqual({ a: 1 });
    expect(() => outbox.append({ channel: 'status', body: 'x'.repeat(300 * 1024) })).toThrow(
      expect.objectContaining({ code: 'MESSAGE_TOO_LARGE' }) as Error,
    );
  });

  it('sender delivers in order, retries failures with backoff, and dead-letters the undeliverable', async () => {
    await setup();
    const outbox = new Outbox(db());
    const delivered: string[] = [];
    let failNext = 2;
    const sender = new OutboxSender(outbox, {
      initialRetryDelayMs: 5,
      maxRetryDelayMs: 20,
      send(batch: readonly OutboxMessage[]) {
        const m = batch[0]!;
        const body = JSON.parse(m.body.toString('utf8')) as { n: number; poison?: boolean };
        if (body.poison) return Promise.reject(new EdgeKitError('MESSAGE_TOO_LARGE', 'edgeHub refused it'));
        if (body.n === 2 && failNext > 0) {
          failNext -= 1;
          return Promise.reject(new Error('ECONNRESET'));
        }
        delivered.push(String(body.n));
        return Promise.resolve();
      },
    });
    sender.start();
    for (let n = 1; n <= 5; n += 1) outbox.append({ channel: 'c', body: n === 4 ? { n, poison: true } : { n } });
    await waitFor(() => delivered.length === 4, { description: 'four deliveries' });
    await sender.idle(5_000);
    expect(delivered).toEqual(['1', '2', '3', '5']);
    expect(sender.stats()).toMatchObject({ sent: 4, failures: 3, deadLettered: 1, pending: 0 });
    expect(outbox.deadSize()).toBe(1);
    await sender.close();
    await sender.close();
  });

  it('inbox applies each id once and forgets beyond its window', async () => {
    await setup();
    const handle = db();
    let now = 0;
    const inbox = new Inbox(handle, { windowSize: 2, windowMs: 1_000, now: () => now });
    let applied = 0;
    const effect = () => {
      applied += 1;
      return applied;
    };
    expect(inbox.receive('a', effect)).toEqual({ duplicate: false, result: 1 });
    expect(inbox.receive('a', effect)).toEqual({ duplicate: true });
    now = 500;
    inbox.receive('b', effect);
    inbox.receive('c', effect);
    now = 5_000;
    inbox.prune();
    // 'a' is beyond the newest 2 and older than 1 s: forgotten; 'b' and 'c' are the newest two
    expect(inbox.seen('a')).toBe(false);
    expect(inbox.seen('b')).toBe(true);
    expect(inbox.seen('c')).toBe(true);
    expect(() =>
      handle.transaction(() => {
        inbox.receive('d', effect);
        throw new Error('effect failed');
      })(),
    ).toThrow();
    expect(inbox.seen('d')).toBe(false);
  });
});
