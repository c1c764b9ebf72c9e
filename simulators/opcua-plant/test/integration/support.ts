import { fileURLToPath } from 'node:url';
import { type TempDir, createTempDir, waitFor } from '@takt/test-support';
import type { ClientMonitoredItem, ClientSubscription } from 'node-opcua-client';
import { type PlantClient, connectPlantClient } from '../../src/opcua/client.js';
import { type RunningPlant, type StartPlantOptions, startPlant } from '../../src/plant.js';

export const TEST_LAYOUT = fileURLToPath(new URL('./fixtures/test-plant.json', import.meta.url));

export interface Fixture {
  plant: RunningPlant;
  client: PlantClient;
  dir: TempDir;
  close(): Promise<void>;
}

/** One plant on a free loopback port with its PKI in a temp dir, and one anonymous client. */
export async function startFixture(options: Partial<StartPlantOptions> = {}): Promise<Fixture> {
  const dir = await createTempDir('takt-plant-');
  const plant = await startPlant({
    layout: TEST_LAYOUT,
    port: 0,
    speedFactor: 100,
    tickMs: 50,
    pkiDir: dir.join('pki'),
    ...options,
  });
  const client = await connectPlantClient({ endpointUrl: plant.endpointUrl, pkiDir: dir.join('client-pki') });
  return {
    plant,
    client,
    dir,
    async close() {
      await client.close().catch(() => undefined);
      await plant.close();
      await dir.remove();
    },
  };
}

/** Records every value a node publishes (event-driven: sampling 0, queue 1000). */
export async function record(client: PlantClient, path: string): Promise<{ values: unknown[]; stop(): Promise<void> }> {
  const { lib, session } = client;
  const subscription: ClientSubscription = await session.createSubscription2({
    requestedPublishingInterval: 10,
    requestedLifetimeCount: 1000,
    requestedMaxKeepAliveCount: 10,
    maxNotificationsPerPublish: 10_000,
    publishingEnabled: true,
    priority: 1,
  });
  const values: unknown[] = [];
  const item: ClientMonitoredItem = await subscription.monitor(
    { nodeId: client.nodeId(path), attributeId: lib.AttributeIds.Value },
    { samplingInterval: 0, discardOldest: false, queueSize: 1000 },
    lib.TimestampsToReturn.Both,
  );
  item.on('changed', (dataValue) => values.push(dataValue.value.value as unknown));
  await waitFor(() => values.length > 0, { description: `first value of ${path}` });
  return {
    values,
    async stop() {
      await subscription.terminate();
    },
  };
}

/** Waits until `path` reads a value for which `check` holds; returns it. */
export async function waitForValue<T>(
  client: PlantClient,
  path: string,
  check: (value: T) => boolean,
  timeoutMs = 10_000,
): Promise<T> {
  let last: T | undefined;
  await waitFor(
    async () => {
      last = (await client.read(path)) as T;
      return check(last);
    },
    { timeoutMs, description: `${path} (last ${JSON.stringify(last)})` },
  );
  return last as T;
}
