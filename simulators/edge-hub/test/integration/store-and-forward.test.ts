import { describe, expect, it } from 'vitest';
import { waitFor } from '@takt/test-support';
import { bodyOf, connectModule, jsonMessage, startTestHub, waitSubscribed } from './helpers.js';

const HOST = '127.42.3';
const idsOf = (received: { message: Parameters<typeof bodyOf>[0] }[]): string[] =>
  received.map((r) => (bodyOf(r.message) as { id: string }).id);
const range = (prefix: string, from: number, to: number): string[] =>
  Array.from({ length: to - from }, (_, i) => `${prefix}${from + i}`);

describe('store-and-forward', () => {
  it('keeps messages for a stopped receiver and delivers every one, in order, when it is back', async () => {
    const { hub } = await startTestHub(HOST);
    const first = await connectModule(hub, 'receiver');
    await waitSubscribed(hub, 'receiver');
    const sender = await connectModule(hub, 'sender', undefined, { inputs: false });
    for (let i = 0; i < 5; i++) await sender.client.sendOutputEvent('out1', jsonMessage({ id: `m${i}` }));
    await waitFor(() => first.received.length >= 5, { description: 'first 5' });
    await first.close();
    for (let i = 5; i < 45; i++) await sender.client.sendOutputEvent('out1', jsonMessage({ id: `m${i}` }));
    expect((await hub.control.status()).queues).toEqual([
      { endpoint: '/modules/receiver/inputs/in1', priority: 2000000000, count: 40 },
    ]);
    const second = await connectModule(hub, 'receiver');
    await waitFor(() => second.received.length >= 40, { description: '40 stored messages' });
    expect(idsOf(first.received)).toEqual(range('m', 0, 5));
    expect(idsOf(second.received)).toEqual(range('m', 5, 45));
    await waitFor(async () => (await hub.control.status()).queues.length === 0, {
      description: 'queue empty after acks',
    });
  });

  it('loses nothing that was acknowledged across an emulator restart', async () => {
    const test = await startTestHub(HOST);
    const sender = await connectModule(test.hub, 'sender', undefined, { inputs: false });
    await test.hub.control.setOnline(false);
    for (let i = 0; i < 30; i++) {
      await sender.client.sendOutputEvent('out1', jsonMessage({ id: `r${i}` }));
      await sender.client.sendOutputEvent('telemetry', jsonMessage({ id: `t${i}` }));
    }
    await sender.close();
    await test.hub.close();
    const hub = await test.restart();
    const receiver = await connectModule(hub, 'receiver');
    await waitFor(() => receiver.received.length >= 30, { description: '30 messages after restart' });
    expect(idsOf(receiver.received)).toEqual(range('r', 0, 30));
    // a restarted emulator comes back online: the held upstream messages drain
    const upstream = await waitFor(async () => {
      const got = await hub.control.upstream();
      return got.length >= 30 ? got : undefined;
    });
    expect(upstream.map((m) => (JSON.parse(m.body) as { id: string }).id)).toEqual(range('t', 0, 30));
  });

  it('drops only the messages whose TTL expired', async () => {
    let now = Date.now();
    const { hub } = await startTestHub(HOST, { clock: () => now });
    const sender = await connectModule(hub, 'sender', undefined, { inputs: false });
    for (let i = 0; i < 3; i++) {
      await sender.client.sendOutputEvent('ephemeral', jsonMessage({ id: `e${i}` })); // route TTL 1 s
      await sender.client.sendOutputEvent('out1', jsonMessage({ id: `p${i}` })); // global TTL 3600 s
    }
    now += 2_000;
    expect(await hub.control.purgeExpired()).toBe(3);
    for (let i = 3; i < 5; i++) await sender.client.sendOutputEvent('ephemeral', jsonMessage({ id: `e${i}` }));
    now += 500;
    const receiver = await connectModule(hub, 'receiver');
    await waitFor(() => receiver.received.length >= 5, { description: '5 live messages' });
    expect(idsOf(receiver.received)).toEqual(['p0', 'p1', 'p2', 'e3', 'e4']);
    // an expired message is never delivered, even before the cleanup task removed it
    await receiver.close();
    await sender.client.sendOutputEvent('ephemeral', jsonMessage({ id: 'late' }));
    await sender.client.sendOutputEvent('out1', jsonMessage({ id: 'marker' }));
    now += 5_000;
    const again = await connectModule(hub, 'receiver');
    await waitFor(() => again.received.length >= 1, { description: 'marker' });
    expect(idsOf(again.received)).toEqual(['marker']);
  });
});
