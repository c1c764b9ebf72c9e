import { createHmac } from 'node:crypto';
import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { parseDeployment } from '@takt/sim-edge-hub';
import { startTestHub, testManifest } from './helpers.js';

const HOST = '127.42.8';

function call(
  uri: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown; type: string }> {
  const url = new URL(uri);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, method, path, headers: { 'Content-Type': 'application/json' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown,
            type: String(res.headers['content-type']),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

describe('workload API and deployment seeding', () => {
  it('serves the trust bundle and signs with the module key (loopback HTTP variant)', async () => {
    const { hub } = await startTestHub(HOST, { workload: { port: 0 } });
    const env = hub.moduleEnv('receiver', 'workload');
    const uri = env['IOTEDGE_WORKLOADURI'] ?? '';
    expect(uri).toMatch(/^http:\/\/127\.42\.8\.\d+:\d+\/$/);
    const bundle = await call(uri, 'GET', '/trust-bundle?api-version=2018-06-28');
    expect(bundle).toMatchObject({ status: 200, json: { certificate: hub.caCertPem } });
    expect(bundle.type).toContain('application/json');

    const data = Buffer.from('hub/devices/d/modules/receiver\n1999999999').toString('base64');
    const path = `/modules/receiver/genid/${env['IOTEDGE_MODULEGENERATIONID']}/sign?api-version=2018-06-28`;
    const signed = await call(uri, 'POST', path, { keyId: 'primary', algo: 'HMACSHA256', data });
    const key = /SharedAccessKey=([^;]+)/.exec(hub.connectionString('receiver'))?.[1] ?? '';
    const expected = createHmac('sha256', Buffer.from(key, 'base64'))
      .update(Buffer.from(data, 'base64'))
      .digest('base64');
    expect(signed).toMatchObject({ status: 200, json: { digest: expected } });

    expect(
      (await call(uri, 'POST', '/modules/receiver/genid/wrong/sign', { keyId: 'primary', algo: 'HMACSHA256', data }))
        .status,
    ).toBe(404);
    expect((await call(uri, 'POST', path, { keyId: 'primary', algo: 'MD5', data })).status).toBe(400);
    expect((await call(uri, 'POST', '/modules/nobody/genid/x/sign', {})).status).toBe(404);
  });

  it('the control client turns error answers into CONTROL_REQUEST_FAILED with the status', async () => {
    const { hub } = await startTestHub(HOST);
    await expect(hub.control.moduleEnv('nobody')).rejects.toMatchObject({
      code: 'CONTROL_REQUEST_FAILED',
      details: { status: 404 },
    });
    await expect(hub.control.patchDesired('receiver', { 'bad.key': 1 })).rejects.toMatchObject({
      code: 'CONTROL_REQUEST_FAILED',
      details: { status: 400 },
    });
    const created = await hub.control.createModule('extra');
    expect(Object.keys(created.env)).toEqual(['EdgeHubConnectionString', 'EdgeModuleCACertificateFile']);
    expect(await hub.control.modules()).toEqual(['extra', 'receiver', 'sender']);
  });

  it('re-seeds desired properties only when the manifest changed them (as set-modules does)', async () => {
    const test = await startTestHub(HOST);
    const first = await test.hub.control.twin('receiver');
    expect(first.desired).toEqual({ workflows: {}, settings: {}, $version: 2 });
    await test.hub.control.patchDesired('receiver', { settings: { local: 1 } });
    await test.hub.close();
    // same manifest: the twin keeps the later write
    let hub = await test.restart();
    expect((await hub.control.twin('receiver')).desired).toEqual({
      workflows: {},
      settings: { local: 1 },
      $version: 3,
    });
    await hub.close();
    // a redeployment with other desired properties replaces the section
    const changed = structuredClone(testManifest);
    changed.modulesContent.receiver['properties.desired'] = { workflows: { w1: { v: 1 } }, settings: {} };
    hub = await test.restart({ manifest: parseDeployment(changed) });
    expect((await hub.control.twin('receiver')).desired).toEqual({
      workflows: { w1: { v: 1 } },
      settings: {},
      $version: 4,
    });
  });
});
