/**
 * A module process for the edge benchmark: a real ModuleClient (azure-iot-device + MQTT) driven by its
 * parent over IPC. `TAKT_BENCH_NODELAY=1` sets TCP_NODELAY on every client socket (mqtt.js never does).
 */
import net from 'node:net';
import deviceSdk, { type DeviceMethodRequest, type DeviceMethodResponse, type Message } from 'azure-iot-device';
import mqttTransport from 'azure-iot-device-mqtt';
import type { ParentCommand, WorkerReport } from './protocol.js';

const { Message: DeviceMessage, ModuleClient } = deviceSdk;
const { Mqtt } = mqttTransport;

if (process.env['TAKT_BENCH_NODELAY'] === '1') {
  // what a `--require` preload would do: every socket the SDK opens gets TCP_NODELAY
  const proto = net.Socket.prototype as unknown as { connect: (this: net.Socket, ...args: unknown[]) => net.Socket };
  const connect = proto.connect;
  proto.connect = function connectWithNoDelay(this: net.Socket, ...args: unknown[]): net.Socket {
    this.setNoDelay(true);
    return connect.apply(this, args);
  };
}

const send = (report: WorkerReport): void => {
  process.send?.(report);
};
const nowNs = (): bigint => process.hrtime.bigint();

const client = ModuleClient.fromConnectionString(process.env['TAKT_BENCH_CS'] ?? '', Mqtt);
await client.setOptions({ ca: process.env['TAKT_BENCH_CA'] ?? '' });
let expected = 0;
let latenciesNs: number[] = [];
let receivedCount = 0;
let firstAt = 0n;
let lastAt = 0n;
let pongWaiter: (() => void) | undefined;
client.on('inputMessage', (input: string, message: Message) => {
  const at = nowNs();
  client.complete(message, () => undefined);
  if (input === 'pong') {
    pongWaiter?.();
    return;
  }
  const text = message.getBytes().toString('utf8');
  if (text.startsWith('"ping')) {
    // the echo side of a request/response over routes
    client.sendOutputEvent('pong', new DeviceMessage(text)).catch(() => undefined);
    return;
  }
  const sentAt = BigInt((text.split(',')[0] ?? '0').slice(1));
  latenciesNs.push(Number(at - sentAt));
  receivedCount++;
  if (receivedCount === 1) firstAt = at;
  lastAt = at;
  if (receivedCount === expected) {
    send({ type: 'received', latenciesNs, count: receivedCount, spanNs: Number(lastAt - firstAt) });
  }
});
client.onMethod('ping', (request?: DeviceMethodRequest, response?: DeviceMethodResponse) => {
  response?.send(200, request?.payload, () => undefined);
});
client.on('error', () => undefined);
await client.open();
send({ type: 'ready' });

const payload = (filler: string): Message => {
  const message = new DeviceMessage(`[${nowNs()},"${filler}"]`);
  message.contentType = 'application/json';
  message.contentEncoding = 'utf-8';
  return message;
};

process.on('message', (command: ParentCommand) => {
  void (async () => {
    switch (command.type) {
      case 'expect':
        expected = command.count;
        latenciesNs = [];
        receivedCount = 0;
        send({ type: 'expecting' });
        return;
      case 'send-sequential': {
        const filler = 'x'.repeat(command.bytes);
        const deadline = Date.now() + command.timeoutMs;
        for (let i = 0; i < command.count && Date.now() < deadline; i++) {
          await client.sendOutputEvent('out1', payload(filler));
          if (command.gapMs > 0) await new Promise((resolve) => setTimeout(resolve, command.gapMs));
        }
        send({ type: 'sent' });
        return;
      }
      case 'send-window': {
        const filler = 'x'.repeat(command.bytes);
        const started = nowNs();
        let next = 0;
        const deadline = Date.now() + command.timeoutMs;
        const lane = async (): Promise<void> => {
          while (next < command.count && Date.now() < deadline) {
            next++;
            await client.sendOutputEvent('out1', payload(filler));
          }
        };
        await Promise.all(Array.from({ length: command.window }, lane));
        send({ type: 'sent', spanNs: Number(nowNs() - started) });
        return;
      }
      case 'invoke': {
        const latencies: number[] = [];
        const deadline = Date.now() + command.timeoutMs;
        for (let i = 0; i < command.count && Date.now() < deadline; i++) {
          const started = nowNs();
          await client.invokeMethod(command.deviceId, command.target, {
            methodName: 'ping',
            payload: { i },
            responseTimeoutInSeconds: 10,
            connectTimeoutInSeconds: 5,
          });
          latencies.push(Number(nowNs() - started));
        }
        send({ type: 'invoked', latenciesNs: latencies });
        return;
      }
      case 'ping-pong': {
        const latencies: number[] = [];
        const deadline = Date.now() + command.timeoutMs;
        for (let i = 0; i < command.count && Date.now() < deadline; i++) {
          const started = nowNs();
          const answered = new Promise<void>((resolve) => {
            pongWaiter = resolve;
          });
          await client.sendOutputEvent('out1', new DeviceMessage(`"ping ${i}"`));
          await answered;
          latencies.push(Number(nowNs() - started));
        }
        send({ type: 'ponged', latenciesNs: latencies });
        return;
      }
      case 'close':
        await client.close();
        process.exit(0);
    }
  })().catch((error: unknown) => {
    send({ type: 'error', message: error instanceof Error ? error.message : String(error) });
  });
});
