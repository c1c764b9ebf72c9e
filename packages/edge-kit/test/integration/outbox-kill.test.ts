import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { type TempDir, createTempDir, spawnTs } from '@takt/test-support';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const TARGET = 10_000;
const KILLS = 8;

describe('durable outbox under SIGKILL', () => {
  let dir: TempDir | undefined;
  afterEach(async () => {
    await dir?.remove();
  });

  it('delivers every committed message exactly once and nothing that was not committed', async () => {
    dir = await createTempDir();
    const consumer = spawnTs(fixture('outbox-consumer.ts'), [dir.join('consumer.db')], { name: 'consumer' });
    const port = Number((await consumer.waitForLine(/^consumer ready \d+/)).split(' ')[2]);
    const url = `http://127.0.0.1:${port}/deliver`;
    const args = [dir.join('producer.db'), url, String(TARGET)];

    const startedAt: number[] = [];
    let killedMidway = 0;
    for (let k = 0; k < KILLS; k += 1) {
      const producer = spawnTs(fixture('outbox-producer.ts'), args, { name: `producer-${k}` });
      startedAt.push(Number((await producer.waitForLine(/^producer started at \d+/)).split(' ')[3]));
      // Kill without warning at a random moment: mid-transaction, mid-send or between the two.
      await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 60)));
      await producer.kill();
      if (!/producer done/.test(producer.output())) killedMidway += 1;
    }
    const last = spawnTs(fixture('outbox-producer.ts'), args, { name: 'producer-final' });
    await last.waitForLine(/^producer done \d+/, 120_000);
    expect(await last.waitForExit(30_000)).toBe(0);
    await consumer.stop();

    const producerDb = new Database(dir.join('producer.db'), { readonly: true });
    const consumerDb = new Database(dir.join('consumer.db'), { readonly: true });
    try {
      const committed = (producerDb.prepare('SELECT id FROM produced ORDER BY n').pluck().all() as string[]) ?? [];
      const pending = producerDb.prepare('SELECT COUNT(*) FROM outbox_messages').pluck().get() as number;
      const received = consumerDb.prepare('SELECT id, source_seq AS seq FROM received ORDER BY n').all() as {
        id: string;
        seq: number;
      }[];
      const deliveries = consumerDb.prepare('SELECT COUNT(*) FROM deliveries').pluck().get() as number;

      expect(committed).toHaveLength(TARGET);
      expect(pending).toBe(0);
      // exactly once, in commit order, with per-source sequence numbers 1..N without gaps
      expect(received.map((r) => r.id)).toEqual(committed);
      expect(received.map((r) => r.seq)).toEqual(committed.map((_, i) => i + 1));
      // at-least-once delivery underneath: redeliveries after a kill were de-duplicated, not stored
      expect(deliveries).toBeGreaterThanOrEqual(TARGET);
      // the kills really hit a producer at work, and every restart resumed from what was committed
      expect(killedMidway).toBeGreaterThanOrEqual(KILLS / 2);
      expect(startedAt).toEqual([...startedAt].sort((a, b) => a - b));
      console.info(
        `outbox kill test: ${KILLS} kills (${killedMidway} mid-run), restarts at ${startedAt.join(', ')}, ` +
          `${deliveries - TARGET} redeliveries de-duplicated`,
      );
    } finally {
      producerDb.close();
      consumerDb.close();
    }
  });
});
