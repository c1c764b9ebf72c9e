import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createTempDir, spawnTs, waitFor } from '@takt/test-support';
import { EdgeHubControlClient } from '@takt/sim-edge-hub';
import { bodyOf, connectModuleWith, jsonMessage, testManifest } from './helpers.js';

const main = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
const fixture = fileURLToPath(new URL('../fixtures/echo-module.ts', import.meta.url));

describe('edge-hub as a process, modules as child processes', () => {
  it('prints its ready line, hands out module environments for both SDK paths, stops on SIGTERM', async () => {
    const dir = await createTempDir('takt-edgehub-proc-');
    onTestFinished(() => dir.remove());
    const manifest = dir.join('deployment.json');
    writeFileSync(manifest, JSON.stringify(testManifest));
    const hub = spawnTs(main, ['--data-dir', dir.join('data'), '--manifest', manifest, '--host', '127.42.7.1'], {
      name: 'edge-hub',
    });
    const ready = await hub.waitForLine(/^edge-hub ready /, 30_000);
    const match =
      /^edge-hub ready mqtts:\/\/127\.42\.7\.1:8883 https:\/\/127\.42\.7\.1:443 control=(\S+) workload=unix:\/\/(\S+)$/.exec(
        ready,
      );
    expect(match, ready).not.toBeNull();
    const control = new EdgeHubControlClient(match?.[1] ?? '');
    expect(await control.modules()).toEqual(['receiver', 'sender']);

    // production path: IOTEDGE_* variables and the workload API (trust bundle + sign)
    const workloadEnv = await control.moduleEnv('receiver', 'workload');
    expect(workloadEnv.env).toMatchObject({
      IOTEDGE_AUTHSCHEME: 'sasToken',
      IOTEDGE_GATEWAYHOSTNAME: '127.42.7.1',
      IOTEDGE_MODULEID: 'receiver',
    });
    const receiver = spawnTs(fixture, [], { name: 'receiver', env: workloadEnv.env });
    await receiver.waitForLine(/^module ready workload$/, 30_000);
    // development path: EdgeHubConnectionString + EdgeModuleCACertificateFile
    const csEnv = await control.moduleEnv('sender');
    expect(Object.keys(csEnv.env).sort()).toEqual(['EdgeHubConnectionString', 'EdgeModuleCACertificateFile']);
    const sender = spawnTs(fixture, [], { name: 'sender', env: csEnv.env });
    await sender.waitForLine(/^module ready connection-string$/, 30_000);

    expect(await control.invokeMethod('receiver', { methodName: 'whoami', connectTimeoutInSeconds: 10 })).toEqual({
      status: 200,
      payload: { moduleId: 'receiver', mode: 'workload' },
    });
    expect(
      await control.invokeMethod('sender', { methodName: 'send', payload: { n: 7 }, connectTimeoutInSeconds: 10 }),
    ).toEqual({
      status: 200,
      payload: { sent: true },
    });
    const upstream = await waitFor(async () => {
      const got = await control.upstream();
      return got.length > 0 ? got : undefined;
    });
    expect(upstream[0]).toMatchObject({ moduleId: 'sender', outputName: 'telemetry', body: '{"n":7}' });

    await sender.stop();
    await receiver.stop();
    hub.signal('SIGTERM');
    expect(await hub.waitForExit(15_000)).toBe(0);
  });
});

describe('durability of the emulator process', () => {
  it('keeps every acknowledged message across kill -9 and a restart', async () => {
    const dir = await createTempDir('takt-edgehub-kill-');
    onTestFinished(() => dir.remove());
    const manifest = dir.join('deployment.json');
    writeFileSync(manifest, JSON.stringify(testManifest));
    const args = ['--data-dir', dir.join('data'), '--manifest', manifest, '--host', '127.42.7.2'];
    const first = spawnTs(main, args, { name: 'edge-hub-1' });
    const control1 = new EdgeHubControlClient(controlUrl(await first.waitForLine(/^edge-hub ready /, 30_000)));
    const senderEnv = (await control1.moduleEnv('sender')).env;
    const ca = readFileSync(senderEnv['EdgeModuleCACertificateFile'] ?? '', 'utf8');
    const sender = await connectModuleWith(senderEnv['EdgeHubConnectionString'] ?? '', ca, undefined, {
      inputs: false,
    });
    await control1.setOnline(false);
    for (let i = 0; i < 40; i++) {
      // each send resolves on PUBACK, which the emulator sends only after the message is committed
      await sender.client.sendOutputEvent('out1', jsonMessage({ id: `k${i}` }));
      if (i % 2 === 0) await sender.client.sendOutputEvent('telemetry', jsonMessage({ id: `t${i}` }));
    }
    await sender.close();
    expect(await first.kill()).toBe('SIGKILL');

    const second = spawnTs(main, args, { name: 'edge-hub-2' });
    const control2 = new EdgeHubControlClient(controlUrl(await second.waitForLine(/^edge-hub ready /, 30_000)));
    const receiverEnv = (await control2.moduleEnv('receiver')).env;
    const receiver = await connectModuleWith(receiverEnv['EdgeHubConnectionString'] ?? '', ca);
    await waitFor(() => receiver.received.length >= 40, {
      timeoutMs: 20_000,
      description: '40 messages after kill -9',
    });
    expect(receiver.received.map((r) => (bodyOf(r.message) as { id: string }).id)).toEqual(
      Array.from({ length: 40 }, (_, i) => `k${i}`),
    );
    const upstream = await waitFor(async () => {
      const got = await control2.upstream();
      return got.length >= 20 ? got : undefined;
    });
    expect(upstream.map((m) => (JSON.parse(m.body) as { id: string }).id)).toEqual(
      Array.from({ length: 20 }, (_, i) => `t${i * 2}`),
    );
    await receiver.close();
    await second.stop();
  });
});

function controlUrl(readyLine: string): string {
  const match = / control=(\S+) /.exec(readyLine);
  if (!match?.[1]) throw new Error(`no control URL in ${readyLine}`);
  return match[1];
}
