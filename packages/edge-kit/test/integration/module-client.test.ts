import deviceSdk from 'azure-iot-device';
import mqttTransport from 'azure-iot-device-mqtt';
import { z } from 'zod';
import { afterEach, describe, expect, it } from 'vitest';
import { type TempDir, createTempDir, waitFor } from '@takt/test-support';
import { type EdgeHubHandle, parseDeployment, startEdgeHub } from '@takt/sim-edge-hub';
import {
  type BindResult,
  Inbox,
  type InputMessage,
  Outbox,
  type SqliteDatabase,
  SupervisedModuleClient,
  createLogger,
  defineMethod,
  openDatabase,
} from '../../src/index.js';

const { ModuleClient } = deviceSdk;
const { Mqtt } = mqttTransport;

// Each test gets its own loopback address: the SDK's ports (8883, 443) are fixed.
const HOST_PREFIX = '127.43.1';
let hostCounter = 0;

const manifest = {
  modulesContent: {
    $edgeAgent: { 'properties.desired': { schemaVersion: '1.1', runtime: {}, systemModules: {}, modules: {} } },
    $edgeHub: {
      'properties.desired': {
        schemaVersion: '1.2',
        routes: {
          aToB: 'FROM /messages/modules/alpha/outputs/events INTO BrokeredEndpoint("/modules/beta/inputs/events")',
        },
        storeAndForwardConfiguration: { timeToLiveSecs: 3600 },
      },
    },
    alpha: { 'properties.desired': { settings: { rate: 1 } } },
    beta: { 'properties.desired': { settings: { rate: 2 } } },
  },
};

const logger = createLogger({ level: process.env['TAKT_TEST_LOG'] === '1' ? 'debug' : 'fatal' });

interface Harness {
  dir: TempDir;
  host: string;
  hub: EdgeHubHandle | undefined;
  startHub(): Promise<EdgeHubHandle>;
  module(id: string, setup?: Partial<ConstructorParameters<typeof SupervisedModuleClient>[0]>): SupervisedModuleClient;
  db(name: string): SqliteDatabase;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function harness(): Promise<Harness> {
  hostCounter += 1;
  const host = `${HOST_PREFIX}.${hostCounter}`;
  const dir = await createTempDir('takt-mc-');
  const h: Harness = {
    dir,
    host,
    hub: undefined,
    async startHub() {
      h.hub = await startEdgeHub({ dataDir: dir.join('hub'), host, manifest: parseDeployment(manifest), logger });
      return h.hub;
    },
    module(id, setup = {}) {
      const edge = new SupervisedModuleClient({
        logger: logger.child({ module: id }),
        reconnectInitialDelayMs: 50,
        reconnectMaxDelayMs: 300,
        operationTimeoutMs: 5_000,
        createClient: async () => {
          const hub = h.hub;
          if (!hub) throw new Error('edgeHub is not running');
          const client = ModuleClient.fromConnectionString(hub.connectionString(id), Mqtt);
          await client.setOptions({ ca: hub.caCertPem });
          return client;
        },
        ...setup,
      });
      return edge;
    },
    db(name) {
      const db = openDatabase(dir.join(name));
      cleanups.push(() => {
        db.close();
      });
      return db;
    },
  };
  cleanups.push(async () => {
    await h.hub?.close();
    await dir.remove();
  });
  return h;
}

const settingsProperty = {
  name: 'settings',
  mode: 'whole' as const,
  validate: (value: unknown) => {
    const parsed = z.object({ rate: z.number().positive() }).safeParse(value);
    return parsed.success
      ? { ok: true as const, value: parsed.data }
      : { ok: false as const, problems: parsed.error.issues.map((i) => i.message) };
  },
};

describe('SupervisedModuleClient against the edgeHub emulator', () => {
  it('retries the first open until edgeHub is up, applies the full twin and acknowledges it (PnP)', async () => {
    const h = await harness();
    const changes: BindResult[] = [];
    const edge = h.module('alpha', { twin: { properties: [settingsProperty], onChange: (r) => changes.push(r) } });
    cleanups.push(() => edge.close());
    const starting = edge.start();
    // edgeHub starts only after the module has failed to connect a few times
    await waitFor(() => edge.health().lastError !== undefined, { description: 'a failed first attempt' });
    const hub = await h.startHub();
    await starting;
    expect(edge.state).toBe('connected');
    expect(changes[0]?.accepted).toEqual([{ property: 'settings', value: { rate: 1 } }]);
    const twin = await waitFor(async () => {
      const t = await hub.control.twin('alpha');
      return (t.reported['settings'] as { ac?: number } | undefined)?.ac === 200 ? t : undefined;
    });
    expect(twin.reported['settings']).toMatchObject({ value: { rate: 1 }, ac: 200, av: twin.desired['$version'] });

    // a desired patch arrives; a bad one is refused with 400 and the good value stays in force
    const v2 = await hub.control.patchDesired('alpha', { settings: { rate: 5 } });
    await waitFor(() => changes.some((c) => c.version === v2));
    const v3 = await hub.control.patchDesired('alpha', { settings: { rate: -1 } });
    const refused = await waitFor(async () => {
      const t = await hub.control.twin('alpha');
      const ack = t.reported['settings'] as { ac: number; av: number; value: unknown } | undefined;
      return ack?.av === v3 ? ack : undefined;
    });
    expect(refused).toMatchObject({ ac: 400, value: { rate: 5 } });
  });

  it('rebuilds the connection after edgeHub drops every connection, and re-reads the twin', async () => {
    const h = await harness();
    const hub = await h.startHub();
    const versions: number[] = [];
    const edge = h.module('alpha', {
      twin: { properties: [settingsProperty], onChange: (r) => versions.push(r.version) },
    });
    cleanups.push(() => edge.close());
    const reconnected = new Promise((resolve) => edge.once('reconnected', resolve));
    await edge.start();
    await hub.control.dropConnections();
    await reconnected;
    expect(edge.health().connects).toBeGreaterThanOrEqual(2);
    // desired changed while we reconnect / after: the full twin and patches bring it in, each version once
    const v = await hub.control.patchDesired('alpha', { settings: { rate: 9 } });
    await waitFor(() => versions.includes(v));
    expect(versions.filter((x) => x === v)).toHaveLength(1);
  });

  it('survives edgeHub being down for a while: outbox messages reach the other module once each, in order', async () => {
    const h = await harness();
    await h.startHub();
    const alphaDb = h.db('alpha.db');
    const betaDb = h.db('beta.db');
    const outbox = new Outbox(alphaDb);
    const inbox = new Inbox(betaDb);
    betaDb.exec('CREATE TABLE got (n INTEGER NOT NULL)');
    const insert = betaDb.prepare('INSERT INTO got (n) VALUES (?)');
    const alpha = h.module('alpha', { outbox });
    const beta = h.module('beta', {
      inbox,
      inputs: {
        events: (m: InputMessage) => {
          insert.run((JSON.parse(m.body.toString('utf8')) as { n: number }).n);
        },
      },
    });
    cleanups.push(
      () => alpha.close(),
      () => beta.close(),
    );
    await Promise.all([alpha.start(), beta.start()]);
    for (let n = 1; n <= 20; n += 1) outbox.append({ channel: 'events', body: { n } });
    await waitFor(() => (betaDb.prepare('SELECT COUNT(*) FROM got').pluck().get() as number) >= 20);

    // edgeHub goes away longer than a reconnect attempt or two, messages pile up in the outbox
    await h.hub?.close();
    await waitFor(() => alpha.state !== 'connected' && beta.state !== 'connected', { description: 'both notice' });
    let failedAttempts = 0;
    alpha.on('reconnecting', () => (failedAttempts += 1));
    for (let n = 21; n <= 60; n += 1) outbox.append({ channel: 'events', body: { n } });
    await waitFor(() => failedAttempts >= 3, { description: 'three failed reconnect attempts' });
    expect(outbox.size()).toBe(40);
    await h.startHub();
    await waitFor(() => (betaDb.prepare('SELECT COUNT(*) FROM got').pluck().get() as number) >= 60, {
      timeoutMs: 30_000,
      description: 'all 60 delivered',
    });
    const got = betaDb.prepare('SELECT n FROM got ORDER BY rowid').pluck().all() as number[];
    expect(got).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(outbox.size()).toBe(0);
  });

  it('routes direct methods to typed handlers with validation and coded errors', async () => {
    const h = await harness();
    const hub = await h.startHub();
    const edge = h.module('alpha', {
      methods: {
        add: defineMethod({
          schema: z.object({ a: z.number(), b: z.number().default(1) }),
          handler: (p) => ({ sum: p.a + p.b }),
        }),
        fail: defineMethod({
          handler: () => {
            throw Object.assign(new Error('the PLC is away'), { code: 'DEVICE_UNREACHABLE', retryable: true });
          },
        }),
      },
    });
    cleanups.push(() => edge.close());
    await edge.start();
    await waitFor(
      async () => (await hub.control.status()).modules.find((m) => m.moduleId === 'alpha')?.methodsSubscribed,
    );
    expect(await hub.control.invokeMethod('alpha', { methodName: 'add', payload: { a: 2 } })).toEqual({
      status: 200,
      payload: { sum: 3 },
    });
    const invalid = await hub.control.invokeMethod('alpha', { methodName: 'add', payload: { a: 'two' } });
    expect(invalid).toMatchObject({
      status: 400,
      payload: { code: 'METHOD_PAYLOAD_INVALID', details: { problems: [{ path: 'a' }] } },
    });
    const failed = await hub.control.invokeMethod('alpha', { methodName: 'fail', payload: {} });
    expect(failed).toMatchObject({ status: 503, payload: { code: 'DEVICE_UNREACHABLE', retryable: true } });
  });
});
