import type { ServiceBusReceivedMessage } from '@azure/service-bus';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '@takt/edge-kit';
import { type Order, OrderReceiver, type OrderReceiverOptions } from '../../src/index.js';

type Handlers = { processMessage(m: ServiceBusReceivedMessage): Promise<void> };

function fakeReceiver() {
  const log: string[] = [];
  let handlers: Handlers | undefined;
  const receiver = {
    subscribe(h: Handlers) {
      handlers = h;
      return { close: () => Promise.resolve() };
    },
    completeMessage: (m: ServiceBusReceivedMessage) => {
      log.push(`complete ${m.messageId as string}`);
      return Promise.resolve();
    },
    abandonMessage: (m: ServiceBusReceivedMessage) => {
      log.push(`abandon ${m.messageId as string}`);
      return Promise.resolve();
    },
    deadLetterMessage: (
      m: ServiceBusReceivedMessage,
      o?: { deadLetterReason?: string; deadLetterErrorDescription?: string },
    ) => {
      log.push(`dead ${m.messageId as string} ${o?.deadLetterReason ?? ''} ${o?.deadLetterErrorDescription ?? ''}`);
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
  };
  const deliver = (messageId: string, body: unknown) =>
    handlers!.processMessage({ messageId, body } as unknown as ServiceBusReceivedMessage);
  return { receiver: receiver as unknown as OrderReceiverOptions['receiver'], log, deliver };
}

describe('OrderReceiver', () => {
  it('completes only after the hand-over committed, dead-letters invalid orders, abandons on a store failure', async () => {
    const { receiver, log, deliver } = fakeReceiver();
    const accepted: Order[] = [];
    let failNext = false;
    const orders = new OrderReceiver({
      receiver,
      logger: silentLogger,
      accept: (order) => {
        if (failNext) {
          failNext = false;
          throw new Error('disk full');
        }
        if (accepted.some((o) => o.orderId === order.orderId)) return 'duplicate';
        accepted.push(order);
        return 'accepted';
      },
    });
    orders.start();
    await deliver('o1', { orderId: 'o1', workflowId: 'w' });
    await deliver('o1', Buffer.from(JSON.stringify({ orderId: 'o1', workflowId: 'w' })));
    await deliver('bad', { orderId: 'bad' });
    await deliver('junk', 'not json');
    failNext = true;
    await deliver('o2', JSON.stringify({ orderId: 'o2', workflowId: 'w', priority: 1 }));
    expect(log).toEqual([
      'complete o1',
      'complete o1',
      expect.stringMatching(/^dead bad OrderInvalid workflowId: /),
      expect.stringMatching(/^dead junk OrderInvalid /),
      'abandon o2',
    ]);
    expect(accepted.map((o) => o.orderId)).toEqual(['o1']);
    expect(orders.counters).toMatchObject({ received: 5, accepted: 1, duplicates: 1, deadLettered: 2 });
    await orders.close();
  });
});
