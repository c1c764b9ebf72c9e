import { request } from 'node:https';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TempDir, createTempDir, spawnTs } from '@takt/test-support';
import { type AzureEmulators, startAzureEmulators } from '../../src/index.js';

let dir: TempDir;
let azure: AzureEmulators;

beforeAll(async () => {
  dir = await createTempDir('takt-sim-azure-');
  azure = await startAzureEmulators({ certDir: dir.join('certs'), serviceBus: false });
});
afterAll(async () => {
  await azure?.close();
  await dir?.remove();
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

function call(url: string, method: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      url,
      { method, ca: azure.caCertPem, headers: { 'content-type': 'application/json', ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: raw ? (JSON.parse(raw) as unknown) : undefined,
          });
        });
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

describe('HTTPS emulators (Digital Twins, Event Grid, Application Insights)', () => {
  it('Digital Twins: auth, models, ETags, JSON Patch, the per-twin write limit, tokens', async () => {
    const dt = azure.digitalTwins!;
    const q = '?api-version=2022-05-31';
    const auth = { authorization: 'Bearer t' };
    expect((await call(`${dt.url}/digitaltwins/a${q}`, 'GET')).status).toBe(401);
    const token = await call(`${dt.url}/tenant/oauth2/v2.0/token`, 'POST', {});
    expect(token.body).toMatchObject({ token_type: 'Bearer' });
    const noModel = await call(`${dt.url}/digitaltwins/a${q}`, 'PUT', { $metadata: { $model: 'dtmi:x:A;1' } }, auth);
    expect(noModel.status).toBe(400);
    expect((await call(`${dt.url}/models${q}`, 'POST', [{ '@id': 'dtmi:x:A;1' }], auth)).status).toBe(201);
    const put = await call(`${dt.url}/digitaltwins/a${q}`, 'PUT', { $metadata: { $model: 'dtmi:x:A;1' }, n: 0 }, auth);
    expect(put.status).toBe(200);
    const etag = String(put.headers['etag']);
    const patch = (ifMatch: string, n: number) =>
      call(`${dt.url}/digitaltwins/a${q}`, 'PATCH', [{ op: 'add', path: '/n', value: n }], {
        ...auth,
        'content-type': 'application/json-patch+json',
        'if-match': ifMatch,
      });
    const first = await patch(etag, 1);
    expect(first.status).toBe(204);
    const stale = await patch(etag, 2);
    expect(stale.status).toBe(412);
    expect((stale.body as { error: { code: string } }).error.code).toBe('PreconditionFailed');
    const statuses: number[] = [];
    for (let i = 0; i < 12; i += 1) statuses.push((await patch('*', i)).status);
    expect(statuses).toContain(429);
    expect(dt.throttled()).toBeGreaterThan(0);
    expect(dt.writes('a').length).toBeLessThanOrEqual(10);
  });

  it('Event Grid: key auth, CloudEvents validation; App Insights: /v2.1/track', async () => {
    const eg = azure.eventGrid!;
    const headers = { 'content-type': 'application/cloudevents-batch+json; charset=utf-8', 'aeg-sas-key': eg.key };
    const ce = { id: '1', source: '/t', type: 't', specversion: '1.0', data: { a: 1 } };
    expect((await call(eg.endpoint, 'POST', [ce], { ...headers, 'aeg-sas-key': 'wrong' })).status).toBe(401);
    expect((await call(eg.endpoint, 'POST', [{ ...ce, data: 'text' }], headers)).status).toBe(400);
    expect((await call(eg.endpoint, 'POST', [ce], headers)).status).toBe(200);
    expect(eg.events()).toEqual([ce]);
    const ai = azure.appInsights!;
    const endpoint = /IngestionEndpoint=([^;]+)/.exec(ai.connectionString)?.[1] ?? '';
    const track = await call(`${endpoint}v2.1/track`, 'POST', [
      { name: 'Microsoft.ApplicationInsights.Message', time: 't', iKey: 'k' },
    ]);
    expect(track.body).toEqual({ itemsReceived: 1, itemsAccepted: 1, errors: [] });
    expect(ai.envelopes()).toHaveLength(1);
  });

  it('main.ts prints a ready line with every endpoint and exits 0 on SIGTERM', async () => {
    const child = spawnTs(fileURLToPath(new URL('../../src/main.ts', import.meta.url)), [
      '--cert-dir',
      dir.join('main-certs'),
    ]);
    const line = await child.waitForLine(/azure-emulators ready/, 30_000);
    expect(line).toMatch(
      /dt=https:\/\/127\.0\.0\.1:\d+ sb=Endpoint=sb:\/\/127\.0\.0\.1:\d+;.* eg=https:.* ai=InstrumentationKey=/,
    );
    expect(await child.stop()).toBe(0);
  });
});
