import { describe, expect, it } from 'vitest';
import { waitFor } from '@takt/test-support';
import { connectModule, jsonMessage, startTestHub } from './helpers.js';

const HOST = '127.42.4';

describe('$upstream and the offline switch', () => {
  it('delivers to the cloud sink at once while online', async () => {
    const { hub } = await startTestHub(HOST);
    const sender = await connectModule(hub, 'sender', undefined, { inputs: false });
    await sender.client.sendOutputEvent('telemetry', jsonMessage({ id: 't0' }, { line: 'L1' }, 'mid-t0'));
    const [message] = await waitFor(async () => {
      const got = await hub.control.upstream();
      return got.length > 0 ? got : undefined;
    });
    expect(message).toMatchObject({
      seq: 1,
      moduleId: 'sender',
      outputName: 'telemetry',
      priority: 5,
      properties: { line: 'L1' },
    });
    expect(message?.systemProperties['messageId']).toBe('mid-t0');
    expect(JSON.parse(message?.body ?? '')).toEqual({ id: 't0' });
  });

  it('holds messages while offline and drains every one in priority order when back online', async () => {
    const { hub } = await startTestHub(HOST);
    const sender = await connectModule(hub, 'sender', undefined, { inputs: false });
    await hub.control.setOnline(false);
    for (let i = 0; i < 20; i++) {
      await sender.client.sendOutputEvent('telemetry', jsonMessage({ id: `t${i}` }));
      if (i % 4 === 0) await sender.client.sendOutputEvent('alerts', jsonMessage({ id: `a${i / 4}` }));
    }
    expect(await hub.control.upstream()).toEqual([]);
    expect((await hub.control.status()).online).toBe(false);
    await hub.control.setOnline(true);
    const got = await waitFor(async () => {
      const all = await hub.control.upstream();
      return all.length >= 25 ? all : undefined;
    });
    const ids = got.map((m) => (JSON.parse(m.body) as { id: string }).id);
    expect(ids).toEqual([
      ...Array.from({ length: 5 }, (_, i) => `a${i}`),
      ...Array.from({ length: 20 }, (_, i) => `t${i}`),
    ]);
    expect(got.map((m) => m.seq)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(await hub.control.upstream(20)).toHaveLength(5);
  });
});
