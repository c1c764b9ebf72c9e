import { Message } from 'azure-iot-device';
import { describe, expect, it } from 'vitest';
import { waitFor } from '@takt/test-support';
import { bodyOf, connectModule, jsonMessage, startTestHub, waitSubscribed } from './helpers.js';

const HOST = '127.42.2';

describe('routes: module outputs → module inputs', () => {
  it('delivers an output to the routed input with ids, properties and the sender identity', async () => {
    const { hub } = await startTestHub(HOST);
    const receiver = await connectModule(hub, 'receiver');
    await waitSubscribed(hub, 'receiver');
    const sender = await connectModule(hub, 'sender', undefined, { inputs: false });
    const message = jsonMessage({ n: 1 }, { opcNodeId: 'ns=2;s=Temp/1', 'x y': 'a&b=c' }, 'mid-1');
    message.correlationId = 'cid-1';
    await sender.client.sendOutputEvent('out1', message);
    const got = await waitFor(() => receiver.received[0], { description: 'message on in1' });
    expect(got.input).toBe('in1');
    expect(got.message.messageId).toBe('mid-1');
    expect(got.message.correlationId).toBe('cid-1');
    expect(got.message.contentType).toBe('application/json');
    expect(got.message.properties.getValue('opcNodeId')).toBe('ns=2;s=Temp/1');
    expect(got.message.properties.getValue('x y')).toBe('a&b=c');
    expect(got.message.properties.getValue('$.cmid')).toBe('sender');
    expect(got.message.properties.getValue('$.cdid')).toBe(hub.deviceId);
    expect(bodyOf(got.message)).toEqual({ n: 1 });
  });

  it('evaluates WHERE on application properties and on $body (JSON + UTF-8 only)', async () => {
    const { hub } = await startTestHub(HOST);
    const receiver = await connectModule(hub, 'receiver');
    await waitSubscribed(hub, 'receiver');
    const sender = await connectModule(hub, 'sender', undefined, { inputs: false });
    const noContentType = new Message(JSON.stringify({ temperature: 99, line: { id: 'L1' }, id: 'no-ct' }));
    noContentType.properties.add('severity', 'low');
    // negatives first: they are routed (or not) before the positives that follow on the same connection
    for (const message of [
      jsonMessage({ temperature: 40, line: { id: 'L1' }, id: 'cold' }, { severity: 'low' }),
      jsonMessage({ temperature: 60, line: { id: 'L2' }, id: 'other-line' }, { severity: 'medium' }),
      noContentType,
      jsonMessage({ temperature: 70, line: { id: 'L1' }, id: 'hot-and-high' }, { severity: 'high' }),
      jsonMessage({ temperature: 1, id: 'high-only' }, { severity: 'high' }),
    ]) {
      await sender.client.sendOutputEvent('filtered', message);
    }
    await waitFor(() => receiver.received.length >= 3, { description: '3 routed messages' });
    const byInput = (input: string): unknown[] =>
      receiver.received.filter((r) => r.input === input).map((r) => (bodyOf(r.message) as { id: string }).id);
    expect(byInput('hot')).toEqual(['hot-and-high']);
    expect(byInput('alerts')).toEqual(['hot-and-high', 'high-only']);
    // every delivered message is removed once the receiver acknowledged it
    await waitFor(async () => (await hub.control.status()).queues.length === 0, { description: 'empty queues' });
  });

  it('delivers a backlog in route priority order, then arrival order', async () => {
    const { hub } = await startTestHub(HOST);
    const sender = await connectModule(hub, 'sender', undefined, { inputs: false });
    for (let i = 0; i < 10; i++) {
      await sender.client.sendOutputEvent('low', jsonMessage({ id: `low-${i}` }));
      await sender.client.sendOutputEvent('high', jsonMessage({ id: `high-${i}` }));
    }
    const depths = (await hub.control.status()).queues;
    expect(depths).toEqual([
      { endpoint: '/modules/receiver/inputs/prio', priority: 0, count: 10 },
      { endpoint: '/modules/receiver/inputs/prio', priority: 5, count: 10 },
    ]);
    const receiver = await connectModule(hub, 'receiver');
    await waitFor(() => receiver.received.length >= 20, { description: '20 messages' });
    const ids = receiver.received.map((r) => (bodyOf(r.message) as { id: string }).id);
    expect(ids).toEqual([
      ...Array.from({ length: 10 }, (_, i) => `high-${i}`),
      ...Array.from({ length: 10 }, (_, i) => `low-${i}`),
    ]);
  });
});
