import { connect as tcpConnect } from 'node:net';
import { request } from 'node:https';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import type { Twin } from 'azure-iot-device';
import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { waitFor } from '@takt/test-support';
import type { EdgeHubHandle } from '@takt/sim-edge-hub';
import { bodyOf, connectModule, jsonMessage, startTestHub, waitSubscribed } from './helpers.js';

const HOST = '127.42.6';

/** Opens a TLS connection to the emulator's MQTT port and resolves when the server closed it. */
function rawMqtt(hub: EdgeHubHandle, frames: Buffer[]): Promise<{ received: Buffer; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket: TLSSocket = tlsConnect({ host: hub.host, port: 8883, ca: hub.caCertPem }, () => {
      for (const frame of frames) socket.write(frame);
    });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ received: Buffer.concat(chunks), closed: false });
    }, 5_000);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ received: Buffer.concat(chunks), closed: true });
    });
    socket.on('timeout', () => reject(new Error('timeout')));
  });
}

function connectFrame(hub: EdgeHubHandle, moduleId: string, password: string): Buffer {
  return mqttPacket.generate({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clean: false,
    clientId: `${hub.deviceId}/${moduleId}`,
    keepalive: 60,
    username: `${hub.hubHostName}/${hub.deviceId}/${moduleId}/?api-version=2021-04-12`,
    password: Buffer.from(password),
  });
}

async function moduleToken(hub: EdgeHubHandle, moduleId: string): Promise<string> {
  const { createSas } = await import('@takt/sim-edge-hub');
  const key = /SharedAccessKey=([^;]+)/.exec(hub.connectionString(moduleId))?.[1] ?? '';
  return createSas(
    `${hub.hubHostName}/devices/${hub.deviceId}/modules/${moduleId}`,
    key,
    Math.floor(Date.now() / 1000) + 600,
  );
}

describe('recovery and bad input', () => {
  it('lets modules reconnect after the broker dropped every connection', async () => {
    const { hub } = await startTestHub(HOST);
    const receiver = await connectModule(hub, 'receiver');
    await waitSubscribed(hub, 'receiver');
    const sender = await connectModule(hub, 'sender', undefined, { inputs: false });
    await sender.client.sendOutputEvent('out1', jsonMessage({ id: 'before' }));
    await waitFor(() => receiver.received.length === 1, { description: 'first message' });
    const twinBefore: Twin = await receiver.client.getTwin();
    expect(twinBefore.properties.desired.$version).toBeGreaterThan(0);

    expect(await hub.control.dropConnections()).toBeGreaterThanOrEqual(2);
    // the SDK reconnects by itself and subscribes to its inputs again
    await waitSubscribed(hub, 'receiver');
    await sender.client.sendOutputEvent('out1', jsonMessage({ id: 'after' }));
    await waitFor(() => receiver.received.length === 2, { timeoutMs: 20_000, description: 'message after reconnect' });
    expect(receiver.received.map((r) => (bodyOf(r.message) as { id: string }).id)).toEqual(['before', 'after']);
    // twin requests are answered on the new connection although the SDK does not re-subscribe twin topics
    const twinAfter: Twin = await receiver.client.getTwin();
    expect(twinAfter.properties.desired.$version).toBe(twinBefore.properties.desired.$version);
  });

  it('survives garbage: plain TCP junk, TLS junk, bad client ids, bad topics and oversized messages', async () => {
    const { hub } = await startTestHub(HOST);
    // plain bytes on the TLS port
    await new Promise<void>((resolve) => {
      const socket = tcpConnect({ host: hub.host, port: 8883 }, () => socket.write(Buffer.alloc(512, 0xff)));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve());
    });
    // TLS, then junk instead of MQTT
    expect((await rawMqtt(hub, [Buffer.from('GET / HTTP/1.1\r\n\r\n')])).closed).toBe(true);
    // CONNECT with a client id that is not <device>/<module>: CONNACK 5 (not authorized)
    const badId = await rawMqtt(hub, [
      mqttPacket.generate({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        clean: true,
        clientId: 'nobody',
        keepalive: 60,
      }),
    ]);
    expect(badId.received[0]).toBe(0x20);
    expect(badId.received[3]).toBe(5);
    // a good CONNECT, then a PUBLISH to another module's input topic: refused by closing the connection
    const token = await moduleToken(hub, 'sender');
    const badTopic = await rawMqtt(hub, [
      connectFrame(hub, 'sender', token),
      mqttPacket.generate({
        cmd: 'publish',
        topic: `devices/${hub.deviceId}/modules/receiver/inputs/in1/`,
        payload: Buffer.from('x'),
        qos: 1,
        messageId: 1,
        dup: false,
        retain: false,
      }),
    ]);
    expect(badTopic.closed).toBe(true);
    expect(badTopic.received[0]).toBe(0x20); // CONNACK, and no PUBACK
    expect(badTopic.received.length).toBe(4);
    // a message over 256 KB: refused, nothing stored
    const oversize = await rawMqtt(hub, [
      connectFrame(hub, 'sender', token),
      mqttPacket.generate({
        cmd: 'publish',
        topic: `devices/${hub.deviceId}/modules/sender/messages/events/%24.on=out1/`,
        payload: Buffer.alloc(256 * 1024 + 1, 1),
        qos: 1,
        messageId: 2,
        dup: false,
        retain: false,
      }),
    ]);
    expect(oversize.closed).toBe(true);
    expect((await hub.control.status()).queues).toEqual([]);
    // a malformed property segment
    const badBag = await rawMqtt(hub, [
      connectFrame(hub, 'sender', token),
      mqttPacket.generate({
        cmd: 'publish',
        topic: `devices/${hub.deviceId}/modules/sender/messages/events/%E0%A4%A=1/`,
        payload: Buffer.from('x'),
        qos: 1,
        messageId: 3,
        dup: false,
        retain: false,
      }),
    ]);
    expect(badBag.closed).toBe(true);

    // and the emulator still serves modules
    const receiver = await connectModule(hub, 'receiver');
    await waitSubscribed(hub, 'receiver');
    const sender = await connectModule(hub, 'sender', undefined, { inputs: false });
    await sender.client.sendOutputEvent('out1', jsonMessage({ id: 'still-alive' }));
    await waitFor(() => receiver.received.length === 1, { description: 'message after garbage' });
  });

  it('redelivers messages a receiver got but never acknowledged (at-least-once)', async () => {
    const { hub } = await startTestHub(HOST);
    const sender = await connectModule(hub, 'sender', undefined, { inputs: false });
    for (let i = 0; i < 3; i++) await sender.client.sendOutputEvent('out1', jsonMessage({ id: `u${i}` }));
    // a raw receiver: subscribes to its inputs, takes the three QoS 1 publishes, never sends PUBACK, drops
    const token = await moduleToken(hub, 'receiver');
    const topics = await new Promise<string[]>((resolve, reject) => {
      const seen: string[] = [];
      const parser = mqttPacket.parser();
      const socket = tlsConnect({ host: hub.host, port: 8883, ca: hub.caCertPem }, () => {
        socket.write(connectFrame(hub, 'receiver', token));
        socket.write(
          mqttPacket.generate({
            cmd: 'subscribe',
            messageId: 1,
            subscriptions: [{ topic: `devices/${hub.deviceId}/modules/receiver/inputs/#`, qos: 1 }],
          }),
        );
      });
      const timer = setTimeout(() => reject(new Error(`only ${seen.length} publishes`)), 10_000);
      parser.on('packet', (packet) => {
        if (packet.cmd !== 'publish') return;
        seen.push(packet.topic);
        if (seen.length === 3) {
          clearTimeout(timer);
          socket.destroy();
          resolve(seen);
        }
      });
      socket.on('data', (chunk: Buffer) => parser.parse(chunk));
      socket.on('error', () => undefined);
    });
    expect(topics.every((t) => t.startsWith(`devices/${hub.deviceId}/modules/receiver/inputs/in1/`))).toBe(true);
    expect((await hub.control.status()).queues).toEqual([
      { endpoint: '/modules/receiver/inputs/in1', priority: 2000000000, count: 3 },
    ]);
    const receiver = await connectModule(hub, 'receiver');
    await waitFor(() => receiver.received.length >= 3, { description: 'redelivered messages' });
    expect(receiver.received.map((r) => (bodyOf(r.message) as { id: string }).id)).toEqual(['u0', 'u1', 'u2']);
  });

  it('freezes (accepts TCP, answers nothing) and thaws', async () => {
    const { hub } = await startTestHub(HOST);
    await hub.control.freeze();
    const answered: string[] = [];
    const req = request(
      { host: hub.host, port: 443, path: '/twins/x/modules/y', method: 'GET', ca: hub.caCertPem },
      (res) => {
        answered.push(String(res.statusCode));
        res.resume();
      },
    );
    req.on('error', () => undefined);
    req.end();
    const tcp = await new Promise<boolean>((resolve) => {
      const socket = tcpConnect({ host: hub.host, port: 8883 }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    expect(tcp).toBe(true);
    expect((await hub.control.status()).frozen).toBe(true);
    expect(answered).toEqual([]);
    await hub.control.thaw();
    await waitFor(() => answered.length === 1, { description: 'the held request answered after thaw' });
    expect(answered).toEqual(['401']);
  });
});
