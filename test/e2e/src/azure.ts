/**
 * Reading what cloud-bridge delivered to the Azure emulators of a {@link Suite}: the Service Bus status
 * topic through the real `@azure/service-bus` client (plain AMQP), Digital Twins over HTTPS with the
 * emulators' CA (a bearer token from the emulator's token endpoint) and its `/_emulator` write log.
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { ServiceBusClient, type ServiceBusReceivedMessage } from '@azure/service-bus';
import type { Suite } from './suite.js';

export interface TopicMessage {
  messageId: string;
  sessionId: string | undefined;
  subject: string | undefined;
  body: Record<string, unknown>;
  applicationProperties: Record<string, unknown>;
}

/**
 * A receiver on a subscription of the status topic (receive-and-delete) that keeps everything it got.
 *
 * @example
 * const topic = openTopicReader(suite, 'all');
 * const messages = await topic.read(); // everything so far (this call drains what is waiting)
 * await topic.close();
 */
export function openTopicReader(
  suite: Suite,
  subscription = 'all',
  topic = 'takt-status',
): { read(): Promise<TopicMessage[]>; close(): Promise<void> } {
  const client = new ServiceBusClient(suite.azure.sbConnectionString);
  const receiver = client.createReceiver(topic, subscription, { receiveMode: 'receiveAndDelete' });
  const seen: TopicMessage[] = [];
  const toMessage = (m: ServiceBusReceivedMessage): TopicMessage => ({
    messageId: String(m.messageId),
    sessionId: m.sessionId,
    subject: m.subject,
    body: (typeof m.body === 'string' ? JSON.parse(m.body) : m.body) as Record<string, unknown>,
    applicationProperties: { ...m.applicationProperties },
  });
  return {
    async read() {
      for (let round = 0; round < 50; round++) {
        const batch = await receiver.receiveMessages(100, { maxWaitTimeInMs: 300 });
        seen.push(...batch.map(toMessage));
        if (batch.length === 0) break;
      }
      return [...seen];
    },
    async close() {
      await receiver.close();
      await client.close();
    },
  };
}

function httpsJson(
  suite: Suite,
  method: string,
  path: string,
  token?: string,
  body?: string,
): Promise<{ status: number; json: unknown }> {
  const url = new URL(path, suite.azure.dtUrl);
  const ca = readFileSync(suite.azure.caPath, 'utf8');
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        ca,
        timeout: 10_000,
        headers: {
          ...(token === undefined ? {} : { Authorization: `Bearer ${token}` }),
          ...(body === undefined ? {} : { 'Content-Type': 'application/x-www-form-urlencoded' }),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, json: text === '' ? undefined : (JSON.parse(text) as unknown) }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${url.href} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** A twin from the Digital Twins emulator (`undefined` when it does not exist). */
export async function digitalTwin(suite: Suite, twinId: string): Promise<Record<string, unknown> | undefined> {
  const token = await httpsJson(
    suite,
    'POST',
    '/takt-local/oauth2/v2.0/token',
    undefined,
    'grant_type=client_credentials&client_id=takt-local&client_secret=takt-local&scope=https%3A%2F%2Fdigitaltwins.azure.net%2F.default',
  );
  const accessToken = (token.json as { access_token?: string } | undefined)?.access_token;
  if (accessToken === undefined) throw new Error(`no token from the Digital Twins emulator (${token.status})`);
  const twin = await httpsJson(
    suite,
    'GET',
    `/digitaltwins/${encodeURIComponent(twinId)}?api-version=2022-05-31`,
    accessToken,
  );
  if (twin.status === 404) return undefined;
  if (twin.status !== 200) throw new Error(`GET twin ${twinId}: ${twin.status} ${JSON.stringify(twin.json)}`);
  return twin.json as Record<string, unknown>;
}

/** The Digital Twins emulator's log of accepted writes and throttled requests (`GET /_emulator`). */
export async function digitalTwinsWrites(suite: Suite): Promise<{ writes: unknown[]; throttled: number }> {
  return (await httpsJson(suite, 'GET', '/_emulator')).json as { writes: unknown[]; throttled: number };
}
