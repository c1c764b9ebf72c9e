import type { Twin } from 'azure-iot-device';
import { describe, expect, it } from 'vitest';
import { waitFor } from '@takt/test-support';
import { connectModule, serviceClients, startTestHub, updateReported } from './helpers.js';

const HOST = '127.42.1';

type Patch = Record<string, unknown> & { $version: number };

describe('module twin (azure-iot-device ModuleClient + azure-iothub)', () => {
  it('serves the full twin at start, pushes desired patches, acknowledges reported updates', async () => {
    const { hub } = await startTestHub(HOST);
    const patches: Patch[] = [];
    const mod = await connectModule(hub, 'receiver');
    const twin: Twin = await mod.client.getTwin();
    // initial desired properties come from the deployment manifest
    expect(twin.properties.desired).toMatchObject({ workflows: {}, settings: {}, $version: 2 });
    twin.on('properties.desired', (delta: Patch) => patches.push(structuredClone(delta)));
    await waitFor(() => patches.length >= 1, { description: 'the full desired document on first listener' });

    const { registry } = serviceClients(hub);
    const before = await registry.getModuleTwin(hub.deviceId, 'receiver');
    await registry.updateModuleTwin(
      hub.deviceId,
      'receiver',
      { properties: { desired: { settings: { speed: 5 } } } },
      before.responseBody.etag,
    );
    const pushed = await waitFor(() => patches.find((p) => p.$version === 3), { description: 'desired patch v3' });
    expect(pushed).toMatchObject({ settings: { speed: 5 } });

    // reported update acknowledged with the new reported $version; PnP ack visible through the service API
    expect(
      await updateReported(twin, { settings: { value: { speed: 5 }, ac: 200, av: 3, ad: 'applied' } }),
    ).toBeUndefined();
    const after = await registry.getModuleTwin(hub.deviceId, 'receiver');
    expect(after.responseBody.properties.reported).toMatchObject({
      settings: { value: { speed: 5 }, ac: 200, av: 3, ad: 'applied' },
      $version: 2,
    });
    expect(after.responseBody.properties.desired).toMatchObject({ settings: { speed: 5 }, $version: 3 });
  });

  it('keeps $version strictly increasing and does not replay patches made while a module was away', async () => {
    const { hub } = await startTestHub(HOST);
    const first = await connectModule(hub, 'receiver');
    const twin1: Twin = await first.client.getTwin();
    const v1 = twin1.properties.desired.$version as number;
    await first.close();

    const v2 = await hub.control.patchDesired('receiver', { settings: { mode: 'a' } });
    const v3 = await hub.control.patchDesired('receiver', { settings: { mode: 'b' } });
    expect([v2, v3]).toEqual([v1 + 1, v1 + 2]);

    const patches: Patch[] = [];
    const second = await connectModule(hub, 'receiver');
    const twin2: Twin = await second.client.getTwin();
    // the full twin carries the latest version
    expect(twin2.properties.desired).toMatchObject({ settings: { mode: 'b' }, $version: v3 });
    twin2.on('properties.desired', (delta: Patch) => patches.push(structuredClone(delta)));
    // the first listener gets the full document (the SDK subscribes, then GETs)
    await waitFor(() => patches.length >= 1, { description: 'full desired document' });
    const v4 = await hub.control.patchDesired('receiver', { settings: { mode: 'c' } });
    await waitFor(() => patches.some((p) => p.$version === v4), { description: 'patch v4' });
    // nothing older than the full document was replayed: IoT Hub keeps no notifications for absent modules
    expect(patches.map((p) => p.$version)).toEqual([v3, v4]);
  });

  it('rejects reported patches that break twin rules with status 400 and keeps the twin', async () => {
    const { hub } = await startTestHub(HOST);
    const mod = await connectModule(hub, 'receiver');
    const twin: Twin = await mod.client.getTwin();
    const update = (patch: unknown): Promise<Error | undefined> => updateReported(twin, patch);
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 11; i++) deep = { [`l${i}`]: deep };
    const bad = [
      { big: 'x'.repeat(4097) },
      { 'a.b': 1 },
      { 'has space': 1 },
      { 'hash#': 1 },
      { list: [1, null, 2] },
      deep,
      Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, 'y'.repeat(4000)])),
    ];
    for (const patch of bad) {
      const error = await update(patch);
      expect(error, JSON.stringify(patch).slice(0, 80)).toBeDefined();
    }
    expect(await update({ fine: { nested: [1, 2, 3] } })).toBeUndefined();
    const { reported } = await hub.control.twin('receiver');
    expect(reported).toEqual({ fine: { nested: [1, 2, 3] }, $version: 2 });

    // and the service side gets IoT Hub's 400 for a bad desired patch
    const { registry } = serviceClients(hub);
    await expect(
      registry.updateModuleTwin(hub.deviceId, 'receiver', { properties: { desired: { bad: 'z'.repeat(5000) } } }, '*'),
    ).rejects.toMatchObject({ name: 'ArgumentError' });
    await expect(
      registry.updateModuleTwin(hub.deviceId, 'receiver', { properties: { desired: { ok: 1 } } }, 'stale-etag'),
    ).rejects.toMatchObject({ name: 'InvalidEtagError' });
  });
});
