import type { DeviceMethodRequest, DeviceMethodResponse, ModuleClient as DeviceModuleClient } from 'azure-iot-device';
import deviceSdk from 'azure-iot-device';
import mqttTransport from 'azure-iot-device-mqtt';
import { describe, expect, it } from 'vitest';
import { createSas } from '@takt/sim-edge-hub';
import { connectModule, serviceClients, startTestHub, waitSubscribed } from './helpers.js';

const { ModuleClient } = deviceSdk;
const { Mqtt } = mqttTransport;
const HOST = '127.42.5';

const echo = (client: DeviceModuleClient): void => {
  client.onMethod('echo', (request?: DeviceMethodRequest, response?: DeviceMethodResponse) => {
    response?.send(200, { echoed: request?.payload as unknown }, () => undefined);
  });
};

describe('direct methods and authentication', () => {
  it('relays a module-to-module invokeMethod (HTTPS 443) and a service-side method call', async () => {
    const { hub } = await startTestHub(HOST);
    await connectModule(hub, 'receiver', echo, { inputs: false });
    await waitSubscribed(hub, 'receiver', 'methods');
    const sender = await connectModule(hub, 'sender', undefined, { inputs: false });
    const result = await sender.client.invokeMethod(hub.deviceId, 'receiver', {
      methodName: 'echo',
      payload: { x: 1 },
      responseTimeoutInSeconds: 5,
      connectTimeoutInSeconds: 2,
    });
    expect(result).toEqual({ status: 200, payload: { echoed: { x: 1 } } });

    const { client } = serviceClients(hub);
    const served = await client.invokeDeviceMethod(hub.deviceId, 'receiver', {
      methodName: 'echo',
      payload: 'hi',
      responseTimeoutInSeconds: 5,
    });
    expect(served.result).toEqual({ status: 200, payload: { echoed: 'hi' } });
    expect(await hub.control.invokeMethod('receiver', { methodName: 'echo', payload: [1, 2] })).toEqual({
      status: 200,
      payload: { echoed: [1, 2] },
    });
  });

  it('answers 404 for a module that does not listen, 413 for a payload over 128 KB', async () => {
    const { hub } = await startTestHub(HOST);
    const sender = await connectModule(hub, 'sender', undefined, { inputs: false });
    await expect(
      sender.client.invokeMethod(hub.deviceId, 'receiver', {
        methodName: 'echo',
        payload: {},
        responseTimeoutInSeconds: 5,
        connectTimeoutInSeconds: 0,
      }),
    ).rejects.toMatchObject({ name: 'DeviceNotFoundError' });
    const { client } = serviceClients(hub);
    await expect(
      client.invokeDeviceMethod(hub.deviceId, 'sender', {
        methodName: 'echo',
        payload: 'x'.repeat(130 * 1024),
        responseTimeoutInSeconds: 5,
      }),
    ).rejects.toMatchObject({ response: { statusCode: 413 } });
  });

  it('refuses a wrong SAS key and an expired token; accepts a valid token', async () => {
    const { hub } = await startTestHub(HOST);
    const good = hub.connectionString('sender');
    const wrong = good.replace(/SharedAccessKey=[^;]+/, `SharedAccessKey=${Buffer.alloc(32, 7).toString('base64')}`);
    const bad = ModuleClient.fromConnectionString(wrong, Mqtt);
    await bad.setOptions({ ca: hub.caCertPem });
    await expect(bad.open()).rejects.toMatchObject({ name: 'UnauthorizedError' });

    const key = /SharedAccessKey=([^;]+)/.exec(good)?.[1] ?? '';
    const resource = `${hub.host}/devices/${hub.deviceId}/modules/sender`;
    const expired = ModuleClient.fromSharedAccessSignature(
      createSas(resource, key, Math.floor(Date.now() / 1000) - 10),
      Mqtt,
    );
    await expired.setOptions({ ca: hub.caCertPem });
    await expect(expired.open()).rejects.toMatchObject({ name: 'UnauthorizedError' });

    const valid = ModuleClient.fromSharedAccessSignature(
      createSas(resource, key, Math.floor(Date.now() / 1000) + 600),
      Mqtt,
    );
    await valid.setOptions({ ca: hub.caCertPem });
    await valid.open();
    await valid.close();
  });
});
