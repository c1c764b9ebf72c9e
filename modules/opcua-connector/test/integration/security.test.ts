import { readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '@takt/test-support';
import { type Harness, NS, startHarness } from './harness.js';

const HOST_PREFIX = '127.44.2';
let hostCounter = 0;
const harnesses: Harness[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.close();
});

interface Health {
  endpointUrl: string;
  connected: boolean;
  securityMode: string | null;
  lastError: { code: string } | null;
}

async function health(h: Harness): Promise<Record<string, Health>> {
  const twin = await h.hub.control.twin('opcua-connector');
  return (twin.reported['endpointHealth'] ?? {}) as Record<string, Health>;
}

describe('opcua-connector security', () => {
  it('refuses an untrusted server certificate, connects with SignAndEncrypt and a user once trusted, reports a wrong password', async () => {
    hostCounter += 1;
    const h = await startHarness({
      host: `${HOST_PREFIX}.${hostCounter}`,
      plant: {
        securityModes: ['None', 'SignAndEncrypt'],
        allowAnonymous: false,
        users: [{ username: 'operator', password: 'pa55-word' }],
      },
      secrets: { GOOD: 'pa55-word', BAD: 'guess' },
      desired: (endpointUrl) => ({
        settings: { reconnectInitialDelayMs: 100, reconnectMaxDelayMs: 400 },
        endpoints: {
          good: {
            EndpointUrl: endpointUrl,
            OpcAuthenticationUsername: 'operator',
            OpcAuthenticationPasswordSecret: 'GOOD',
          },
          bad: {
            EndpointUrl: endpointUrl,
            OpcAuthenticationUsername: 'intruder',
            OpcAuthenticationPasswordSecret: 'BAD',
          },
        },
      }),
    });
    harnesses.push(h);
    const endpointUrl = h.plant.endpointUrl;

    // the plant's self-signed certificate is not trusted: refused, with a code that says so
    await waitFor(
      async () => {
        const all = Object.values(await health(h));
        return all.length === 2 && all.every((e) => e.lastError?.code === 'OPCUA_SECURITY_REJECTED' && !e.connected);
      },
      { description: 'both sessions refused for the untrusted certificate', timeoutMs: 30_000 },
    );
    const refused = await h.invoke('read', { endpointUrl, nodeId: `${NS}Reactor.Temperature` });
    expect(refused.payload).toMatchObject({ code: 'OPCUA_SESSION_LOST', retryable: true });

    // the operator trusts it the documented way: move rejected/ → trusted/certs/
    const pki = h.dir.join('connector', 'pki');
    const rejected = readdirSync(join(pki, 'rejected'));
    expect(rejected.length).toBeGreaterThan(0);
    for (const file of rejected) renameSync(join(pki, 'rejected', file), join(pki, 'trusted', 'certs', file));

    const states = await waitFor(
      async () => {
        const all = Object.values(await health(h));
        const good = all.find((e) => e.connected);
        const bad = all.find((e) => e.lastError?.code === 'OPCUA_AUTH_FAILED');
        return good && bad ? { good, bad } : undefined;
      },
      { description: 'good user connected, wrong password reported', timeoutMs: 60_000 },
    );
    expect(states.good).toMatchObject({ securityMode: 'SignAndEncrypt' });
    const read = await h.invoke('read', { endpointUrl, nodeId: `${NS}Reactor.Temperature` });
    expect(read.payload).toMatchObject({ values: [{ statusCode: 'Good', dataType: 'Double' }] });
  });
});
