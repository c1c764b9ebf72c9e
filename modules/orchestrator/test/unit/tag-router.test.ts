import { describe, expect, it } from 'vitest';
import { waitFor } from '@takt/test-support';
import { createLogger } from '@takt/edge-kit';
import type { JsonObject } from '@takt/workflow';
import { TagRouter } from '../../src/app/tag-router.js';
import { type ResolvedSettings, defaultSettings, settingsSchema } from '../../src/domain/settings.js';
import { ConnectorClient } from '../../src/edge/connector.js';

const logger = createLogger({ level: 'fatal' });
const LEVEL_NODE = 'nsu=urn:takt:opcua-plant;s=Reactor.Level';
const PLANT = 'opc.tcp://127.0.0.1:4840';

/** A router over a stand-in connector (the module-method boundary) that records the calls. */
function setup(failFirstWatches = 0): {
  router: TagRouter;
  calls: { method: string; payload: Record<string, unknown> }[];
  delivered: { instanceId: string; values: JsonObject }[];
  apply: () => void;
} {
  let settings: ResolvedSettings = defaultSettings;
  const calls: { method: string; payload: Record<string, unknown> }[] = [];
  const delivered: { instanceId: string; values: JsonObject }[] = [];
  const connector = new ConnectorClient({
    logger,
    invoke: (method, payload) => {
      calls.push({ method, payload: payload as Record<string, unknown> });
      if (method === 'watch' && calls.filter((c) => c.method === 'watch').length <= failFirstWatches) {
        // the connector has not applied its own twin yet
        return Promise.resolve({
          status: 400,
          payload: { code: 'OPCUA_ENDPOINT_UNKNOWN', message: `${PLANT} is not configured`, retryable: false },
        });
      }
      return Promise.resolve({ status: 200, payload: {} });
    },
  });
  const router = new TagRouter({
    logger,
    now: () => Date.now(),
    connector,
    settings: () => settings,
    deliver: (instanceId, values) => {
      delivered.push({ instanceId, values });
      return Promise.resolve();
    },
    trigger: () => Promise.resolve(),
  });
  const apply = (): void => {
    settings = settingsSchema.parse({
      defaultEndpointUrl: PLANT,
      tags: [{ name: 'Reactor.Level', nodeId: LEVEL_NODE, samplingIntervalMs: 0, publishingIntervalMs: 10 }],
    });
  };
  return { router, calls, delivered, apply };
}

describe('tag routing waits for the settings from the twin', () => {
  it('starts no connector watch and routes no value before the settings are in force', () => {
    const { router, calls, delivered, apply } = setup();
    // recovery re-watches a resumed instance's interlock tag before the first twin
    router.watch('i-1', ['Reactor.Level']);
    router.prefetch(['Reactor.Level']);
    router.rewatchAll();
    router.onMessage({ endpointUrl: PLANT, nodeId: LEVEL_NODE, value: 24 });
    expect(calls).toEqual([]);
    expect(delivered).toEqual([]);
    expect(router.snapshot()).toEqual({});

    apply();
    router.setConfigured();
    expect(router.isConfigured).toBe(true);
    // the early value is mapped with the settings now in force and routed to the waiting instance
    expect(delivered).toEqual([{ instanceId: 'i-1', values: { 'Reactor.Level': 24 } }]);
    // the watch asks for the mapped node id on the configured endpoint, never the raw tag name, with the
    // tag's sampling and publishing intervals
    const watches = calls.filter((c) => c.method === 'watch').map((c) => c.payload);
    expect(watches.length).toBeGreaterThan(0);
    for (const watch of watches) {
      expect(watch).toMatchObject({
        nodeId: LEVEL_NODE,
        endpointUrl: PLANT,
        samplingIntervalMs: 0,
        publishingIntervalMs: 10,
      });
    }
  });

  it('does not feed values with a bad status to instances or the snapshot', () => {
    const { router, delivered, apply } = setup();
    apply();
    router.setConfigured();
    router.watch('i-1', ['Reactor.Level']);
    router.onMessage({ endpointUrl: PLANT, nodeId: LEVEL_NODE, value: null, statusCode: 'BadNodeIdUnknown' });
    router.onMessage({ endpointUrl: PLANT, nodeId: LEVEL_NODE, value: null, statusCode: 0x80340000 });
    expect(delivered).toEqual([]);
    expect(router.snapshot()).toEqual({});
    router.onMessage({ endpointUrl: PLANT, nodeId: LEVEL_NODE, value: 24.5, statusCode: 'UncertainLastUsableValue' });
    expect(delivered).toEqual([{ instanceId: 'i-1', values: { 'Reactor.Level': 24.5 } }]);
  });

  it('asks the connector again, with backoff, when a watch fails on a fresh start', async () => {
    const { router, calls, apply } = setup(2);
    apply();
    router.setConfigured();
    router.watch('i-1', ['Reactor.Level']);
    await waitFor(() => calls.filter((c) => c.method === 'watch').length >= 3, { timeoutMs: 5_000 });
    const watches = calls.filter((c) => c.method === 'watch');
    expect(watches).toHaveLength(3);
    for (const watch of watches) expect(watch.payload).toMatchObject({ nodeId: LEVEL_NODE, endpointUrl: PLANT });
    router.close();
  });
});
