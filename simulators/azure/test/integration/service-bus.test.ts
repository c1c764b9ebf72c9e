import { createRequire } from 'node:module';
import type * as ServiceBusSdk from '@azure/service-bus';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '@takt/test-support';
import { type ServiceBusEmulator, startServiceBusEmulator } from '../../src/index.js';

// Loaded through Node's require: Vite would resolve @opentelemetry/api (a dependency of the SDK) through its
// "module" condition to an ESM build with extensionless imports that Node cannot load.
const { ServiceBusClient, isServiceBusError } = createRequire(import.meta.url)(
  '@azure/service-bus',
) as typeof ServiceBusSdk;
type ServiceBusClient = ServiceBusSdk.ServiceBusClient;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(): Promise<{ sb: ServiceBusEmulator; client: ServiceBusClient }> {
  const sb = await startServiceBusEmulator({
    entities: {
      queues: { orders: { lockDurationMs: 2_000, maxDeliveryCount: 3 } },
      topics: { status: { subscriptions: { all: {}, failed: { rule: "state = 'failed' AND site IN ('s1','s2')" } } } },
    },
  });
  const client = new ServiceBusClient(sb.connectionString, {
    retryOptions: { maxRetries: 1, retryDelayInMs: 100, timeoutInMs: 5_000 },
  });
  cleanups.push(async () => {
    await client.close();
    await sb.close();
  });
  return { sb, client };
}

describe('Service Bus emulator with @azure/service-bus', () => {
  it('delivers topic messages once per subscription, in order, filtered by rule, dropping duplicates', async () => {
    const { client, sb } = await setup();
    const sender = client.createSender('status');
    await sender.sendMessages(
      Array.from({ length: 6 }, (_, i) => ({
        messageId: `e${i}`,
        sessionId: 'run-1',
        body: { i },
        applicationProperties: { state: i % 2 ? 'failed' : 'running', site: 's1' },
      })),
    );
    await sender.sendMessages({
      messageId: 'e0',
      body: { i: 99 },
      applicationProperties: { state: 'failed', site: 's1' },
    });
    const all = client.createReceiver('status', 'all');
    const got = await all.receiveMessages(10, { maxWaitTimeInMs: 1_000 });
    expect(got.map((m) => (m.body as { i: number }).i)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(got.every((m) => m.sessionId === 'run-1')).toBe(true);
    expect(got.map((m) => Number(m.sequenceNumber))).toEqual([1, 2, 3, 4, 5, 6]);
    for (const m of got) await all.completeMessage(m);
    const failed = client.createReceiver('status', 'failed');
    const onlyFailed = await failed.receiveMessages(10, { maxWaitTimeInMs: 500 });
    expect(onlyFailed.map((m) => m.messageId)).toEqual(['e1', 'e3', 'e5']);
    expect(sb.broker.duplicatesDropped).toBe(1);
  });

  it('peek-lock: abandon redelivers, dead-letter keeps the reason, expired locks come back, unknown entity fails', async () => {
    const { client } = await setup();
    const sender = client.createSender('orders');
    await sender.sendMessages([
      { messageId: 'o1', body: { orderId: 'o1' } },
      { messageId: 'o2', body: { bad: true } },
    ]);
    const receiver = client.createReceiver('orders', { maxAutoLockRenewalDurationInMs: 0 });
    const [first, second] = await receiver.receiveMessages(2, { maxWaitTimeInMs: 1_000 });
    expect(first?.messageId).toBe('o1');
    await receiver.abandonMessage(first!);
    await receiver.deadLetterMessage(second!, {
      deadLetterReason: 'OrderInvalid',
      deadLetterErrorDescription: 'no workflowId',
    });
    const again = await receiver.receiveMessages(1, { maxWaitTimeInMs: 1_000 });
    expect(again[0]?.messageId).toBe('o1');
    expect(again[0]?.deliveryCount).toBe(1);
    // let the lock expire: completing then fails with MessageLockLost, and the message comes back
    await waitFor(() => Date.now() > again[0]!.lockedUntilUtc!.getTime() + 300, { timeoutMs: 5_000 });
    const lost = await receiver.completeMessage(again[0]!).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isServiceBusError(lost) && lost.code).toBe('MessageLockLost');
    const third = await receiver.receiveMessages(1, { maxWaitTimeInMs: 3_000 });
    expect(third[0]?.messageId).toBe('o1');
    await receiver.completeMessage(third[0]!);
    const dlq = client.createReceiver('orders', { subQueueType: 'deadLetter', receiveMode: 'receiveAndDelete' });
    const dead = await dlq.receiveMessages(5, { maxWaitTimeInMs: 500 });
    expect(dead.map((m) => [m.messageId, m.deadLetterReason, m.deadLetterErrorDescription])).toEqual([
      ['o2', 'OrderInvalid', 'no workflowId'],
    ]);
    const missing = await client
      .createSender('nope')
      .sendMessages({ body: 1 })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(isServiceBusError(missing) && missing.code).toBe('MessagingEntityNotFound');
  });

  it('renews locks for a streaming receiver and refuses a wrong key', async () => {
    const { client, sb } = await setup();
    await client.createSender('orders').sendMessages({ messageId: 'r1', body: 'x' });
    const receiver = client.createReceiver('orders');
    const [m] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 1_000 });
    const before = m!.lockedUntilUtc!.getTime();
    const renewed = await receiver.renewMessageLock(m!);
    expect(renewed.getTime()).toBeGreaterThanOrEqual(before);
    await receiver.completeMessage(m!);
    const bad = new ServiceBusClient(sb.connectionString.replace(/SharedAccessKey=[^;]+/, 'SharedAccessKey=wrong'), {
      retryOptions: { maxRetries: 0, timeoutInMs: 3_000 },
    });
    const refused = await bad
      .createSender('orders')
      .sendMessages({ body: 1 })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    await bad.close();
    expect(isServiceBusError(refused) && refused.code).toBe('UnauthorizedAccess');
  });

  it('session receivers get only their session, in order, and hold its lock', async () => {
    const { client } = await setup();
    const sender = client.createSender('status');
    await sender.sendMessages(
      Array.from({ length: 6 }, (_, i) => ({
        messageId: `s${i}`,
        sessionId: i % 2 ? 'B' : 'A',
        body: { i },
        applicationProperties: { state: 'running', site: 's1' },
      })),
    );
    const a = await client.acceptSession('status', 'all', 'A', { maxAutoLockRenewalDurationInMs: 0 });
    expect(a.sessionLockedUntilUtc.getTime()).toBeGreaterThan(Date.now());
    const fromA = await a.receiveMessages(10, { maxWaitTimeInMs: 500 });
    expect(fromA.map((m) => m.messageId)).toEqual(['s0', 's2', 's4']);
    for (const m of fromA) await a.completeMessage(m);
    await a.setSessionState('checkpoint-4');
    expect(await a.getSessionState()).toBe('checkpoint-4');
    const locked = await client.acceptSession('status', 'all', 'A', { maxAutoLockRenewalDurationInMs: 0 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isServiceBusError(locked) && locked.code).toBe('SessionCannotBeLocked');
    const next = await client.acceptNextSession('status', 'all', { maxAutoLockRenewalDurationInMs: 0 });
    expect(next.sessionId).toBe('B');
    const fromB = await next.receiveMessages(10, { maxWaitTimeInMs: 500 });
    expect(fromB.map((m) => m.messageId)).toEqual(['s1', 's3', 's5']);
    await a.close();
    await next.close();
  });
});
