import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '@takt/test-support';
import { type Harness, NS, fieldValues, startHarness, upstreamBodies } from './harness.js';

// Each test's emulator gets its own loopback address: the SDK's ports (8883, 443) are fixed.
const HOST_PREFIX = '127.44.1';
let hostCounter = 0;
const harnesses: Harness[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.close();
});

async function harness(options: Omit<Parameters<typeof startHarness>[0], 'host'>): Promise<Harness> {
  hostCounter += 1;
  const h = await startHarness({ host: `${HOST_PREFIX}.${hostCounter}`, ...options });
  harnesses.push(h);
  return h;
}

const fastSettings = {
  autoAcceptUntrustedCertificates: true,
  batchIntervalMs: 50,
  reconnectInitialDelayMs: 100,
  reconnectMaxDelayMs: 500,
};

describe('opcua-connector against the plant, through the edgeHub emulator', () => {
  it('publishes twin- and PublishNodes-configured nodes to $upstream as PubSub JSON, runs commands, resumes after a server restart', async () => {
    const h = await harness({
      desired: (endpointUrl) => ({
        settings: fastSettings,
        publishedNodes: [
          {
            EndpointUrl: endpointUrl,
            UseSecurity: false,
            DataSetWriterGroup: 'Line1',
            DataSetWriterId: 'Sim',
            OpcNodes: [
              {
                Id: `${NS}Simulation.SimTimeS`,
                DisplayName: 'SimTime',
                OpcSamplingInterval: 0,
                OpcPublishingInterval: 50,
                QueueSize: 10,
              },
            ],
          },
        ],
      }),
    });
    const endpointUrl = h.plant.endpointUrl;

    // twin-configured publishing reaches $upstream as ua-data network messages
    await waitFor(async () => fieldValues(await upstreamBodies(h.hub), 'SimTime').length >= 3, {
      description: 'SimTime values upstream',
      timeoutMs: 20_000,
    });
    const first = (await h.hub.control.upstream(0, 1))[0];
    expect(first?.systemProperties).toMatchObject({ contentType: 'application/json', contentEncoding: 'utf-8' });
    const body = JSON.parse(first?.body ?? '{}') as Record<string, unknown>;
    expect(body).toMatchObject({ MessageType: 'ua-data', PublisherId: expect.any(String) as unknown });
    expect((body['Messages'] as unknown[])[0]).toMatchObject({
      DataSetWriterId: 'Sim',
      MessageType: 'ua-deltaframe',
      SequenceNumber: expect.any(Number) as unknown,
    });

    // PublishNodes_V1 adds a writer; GetConfiguredEndpoints/Nodes show it
    const published = await h.invoke('PublishNodes_V1', {
      EndpointUrl: endpointUrl,
      UseSecurity: false,
      DataSetWriterGroup: 'Line1',
      DataSetWriterId: 'Reactor',
      OpcNodes: [
        {
          Id: `${NS}Reactor.TemperatureSetpoint`,
          DisplayName: 'TSP',
          OpcSamplingInterval: 0,
          OpcPublishingInterval: 50,
        },
      ],
    });
    expect(published.status).toBe(200);
    const endpoints = await h.invoke('GetConfiguredEndpoints_V1', {});
    expect(
      (endpoints.payload['Endpoints'] as { DataSetWriterId: string }[]).map((e) => e.DataSetWriterId).sort(),
    ).toEqual(['Reactor', 'Sim']);
    const nodes = await h.invoke('GetConfiguredNodesOnEndpoint_V1', {
      EndpointUrl: endpointUrl,
      DataSetWriterId: 'Reactor',
    });
    expect(nodes.payload['OpcNodes']).toEqual([expect.objectContaining({ Id: `${NS}Reactor.TemperatureSetpoint` })]);

    // write with read-back from another module; the new value is published too; the write is audited
    const write = await h.invoke('write', {
      endpointUrl,
      nodeId: `${NS}Reactor.TemperatureSetpoint`,
      value: '85.5',
      correlationId: 'wf-1/step-2',
      actor: 'orchestrator',
    });
    expect(write.status).toBe(200);
    expect(write.payload).toMatchObject({ ok: true, statusCode: 'Good', readBack: { value: 85.5, matches: true } });
    await waitFor(async () => fieldValues(await upstreamBodies(h.hub), 'TSP').includes(85.5), {
      description: 'written setpoint published',
      timeoutMs: 20_000,
    });
    // the record is in the audit module's schema (test/contract/connector-audit.test.ts checks it strictly)
    const record = await waitFor(
      () =>
        h.received.audit.find(
          (r) => (r['details'] as Record<string, unknown> | undefined)?.['correlationId'] === 'wf-1/step-2',
        ),
      { description: 'audit record of the write' },
    );
    expect(record).toEqual({
      sourceModule: 'opcua-connector',
      sourceMessageId: expect.stringMatching(/^opcua-write:/) as unknown,
      timestamp: expect.any(String) as unknown,
      action: 'device.write',
      actor: { type: 'module', id: 'orchestrator' },
      target: {
        type: 'node',
        id: `${endpointUrl}|${NS}Reactor.TemperatureSetpoint`,
        name: `${NS}Reactor.TemperatureSetpoint`,
      },
      before: 80,
      after: 85.5,
      details: {
        endpointUrl,
        nodeId: `${NS}Reactor.TemperatureSetpoint`,
        ok: true,
        statusCode: 'Good',
        requested: '85.5',
        dataType: 'Double',
        readBackMatches: true,
        correlationId: 'wf-1/step-2',
      },
    });

    // read, call, browse, watch
    const read = await h.invoke('read', { endpointUrl, nodeId: `${NS}Reactor.TemperatureSetpoint` });
    expect(read.payload).toMatchObject({ values: [{ value: 85.5, dataType: 'Double', statusCode: 'Good' }] });
    const call = await h.invoke('call', { endpointUrl, objectId: `${NS}Reactor`, methodId: `${NS}Reactor.Start` });
    expect(call.payload).toMatchObject({ ok: true, statusCode: 'Good' });
    const browse = await h.invoke('browse', { endpointUrl, nodeId: `${NS}Reactor` });
    expect((browse.payload['references'] as { nodeId: string }[]).map((r) => r.nodeId)).toContain(
      `${NS}Reactor.Temperature`,
    );
    const watch = await h.invoke('watch', { endpointUrl, nodeId: `${NS}Simulation.SimTimeS`, watchId: 'w-simtime' });
    expect(watch.payload).toMatchObject({ watchId: 'w-simtime' });
    await waitFor(() => h.received.tags.length >= 3, { description: 'watched values at orchestrator/inputs/tags' });
    expect(h.received.tags[0]).toMatchObject({
      endpointUrl,
      nodeId: `${NS}Simulation.SimTimeS`,
      value: expect.any(Number) as unknown,
      sourceTimestamp: expect.any(String) as unknown,
      serverTimestamp: expect.any(String) as unknown,
      watchId: 'w-simtime',
    });
    expect(h.received.tagIds.slice(0, 2)).toEqual(['w-simtime:1', 'w-simtime:2']);

    // the server restarts in-process on the same port: publishing and the watch resume, the gap is reported
    const before = fieldValues(await upstreamBodies(h.hub), 'SimTime').length;
    await h.plant.server.restart(1_000);
    const gap = await waitFor(
      async () => {
        const twin = await h.hub.control.twin('opcua-connector');
        const health = Object.values(
          (twin.reported['endpointHealth'] ?? {}) as Record<string, { lastGap: unknown; connected: boolean }>,
        )[0];
        return health?.connected && health.lastGap
          ? (health.lastGap as { durationMs: number; estimatedMissedSamples: number })
          : undefined;
      },
      { description: 'gap reported', timeoutMs: 30_000 },
    );
    expect(gap.durationMs).toBeGreaterThan(500);
    expect(gap.estimatedMissedSamples).toBeGreaterThan(0);
    await waitFor(async () => fieldValues(await upstreamBodies(h.hub), 'SimTime').length > before + 5, {
      description: 'publishing resumed after the restart',
      timeoutMs: 30_000,
    });
    const bodies = await upstreamBodies(h.hub);
    expect(bodies.some((b) => b['MessageType'] === 'takt-gap')).toBe(true);
    // the watch came back too: tags keep flowing to the orchestrator input
    const tagsBefore = h.received.tags.length;
    await waitFor(() => h.received.tags.length > tagsBefore + 3, { description: 'watch resumed', timeoutMs: 20_000 });
    const diag = await h.invoke('GetDiagnosticInfo_V1', {});
    expect(diag.payload).toEqual(
      expect.arrayContaining([expect.objectContaining({ opcEndpointConnected: true, watches: ['w-simtime'] })]),
    );
    const unwatch = await h.invoke('unwatch', { watchId: 'w-simtime' });
    expect(unwatch.payload).toEqual({ watchId: 'w-simtime', removed: true });
  });

  it('keeps PublishNodes configuration and watches across a module restart; message ids continue', async () => {
    const h = await harness({ desired: () => ({ settings: fastSettings }) });
    const endpointUrl = h.plant.endpointUrl;
    const published = await h.invoke('PublishNodes_V1', {
      EndpointUrl: endpointUrl,
      UseSecurity: false,
      DataSetWriterId: 'Sim',
      OpcNodes: [
        { Id: `${NS}Simulation.SimTimeS`, DisplayName: 'SimTime', OpcSamplingInterval: 0, OpcPublishingInterval: 50 },
      ],
    });
    expect(published.status).toBe(200);
    const watch = await h.invoke('watch', { nodeId: `${NS}Simulation.SimTimeS`, watchId: 'w-persist' });
    expect(watch.payload).toMatchObject({ watchId: 'w-persist', endpointUrl });
    await waitFor(() => h.received.tags.length >= 2, { description: 'watched values before the restart' });

    await h.restartConnector();
    const endpoints = await h.invoke('GetConfiguredEndpoints_V1', {});
    expect(endpoints.payload['Endpoints']).toEqual([
      expect.objectContaining({ EndpointUrl: endpointUrl, DataSetWriterId: 'Sim' }),
    ]);
    const seen = h.received.tags.length;
    await waitFor(() => h.received.tags.length >= seen + 3, { description: 'the watch restored from the store' });
    const numbers = h.received.tagIds.map((id) => Number(id.split(':')[1]));
    // ids keep counting per watch across the restart (no reuse, so receivers can de-duplicate)
    expect(new Set(numbers).size).toBe(numbers.length);
    expect(Math.max(...numbers)).toBeGreaterThan(seen);
    const before = fieldValues(await upstreamBodies(h.hub), 'SimTime').length;
    await waitFor(async () => fieldValues(await upstreamBodies(h.hub), 'SimTime').length > before + 3, {
      description: 'publishing from the saved file after the restart',
    });
  });

  it('answers bad input with coded errors and keeps running', async () => {
    const h = await harness({
      desired: (endpointUrl) => ({
        settings: fastSettings,
        endpoints: { plant: { EndpointUrl: endpointUrl, UseSecurity: false } },
      }),
    });
    const endpointUrl = h.plant.endpointUrl;
    await waitFor(() => h.connector.connector.endpointStates()[0]?.state === 'connected', { timeoutMs: 20_000 });
    const cases: [string, unknown, string, boolean][] = [
      ['read', { endpointUrl, nodeId: `${NS}No.Such.Node` }, 'OPCUA_NODE_NOT_FOUND', false],
      ['read', { endpointUrl, nodeId: 'nsu=urn:unknown;s=X' }, 'OPCUA_NODE_NOT_FOUND', false],
      ['read', { endpointUrl, nodeId: 'not a node id' }, 'OPCUA_REQUEST_INVALID', false],
      [
        'write',
        { endpointUrl, nodeId: `${NS}Reactor.TemperatureSetpoint`, value: 'hot' },
        'OPCUA_TYPE_MISMATCH',
        false,
      ],
      ['write', { endpointUrl, nodeId: `${NS}Reactor.TemperatureSetpoint`, value: 1000 }, 'OPCUA_BAD_STATUS', false],
      ['write', { endpointUrl, nodeId: `${NS}Reactor.Temperature`, value: 10 }, 'OPCUA_ACCESS_DENIED', false],
      ['write', { endpointUrl, nodeId: `${NS}Filler.BatchSize`, value: 2.5 }, 'OPCUA_TYPE_MISMATCH', false],
      ['call', { endpointUrl, objectId: `${NS}Reactor`, methodId: `${NS}Reactor.Unhold` }, 'OPCUA_BAD_STATUS', false],
      [
        'call',
        { endpointUrl, objectId: `${NS}Reactor`, methodId: `${NS}Reactor.NoSuchMethod` },
        'OPCUA_NODE_NOT_FOUND',
        false,
      ],
      [
        'call',
        { endpointUrl, objectId: `${NS}Reactor`, methodId: `${NS}Reactor.Start`, inputArguments: [1] },
        'OPCUA_TYPE_MISMATCH',
        false,
      ],
      ['write', { endpointUrl, nodeId: `${NS}Reactor.TemperatureSetpoint` }, 'METHOD_PAYLOAD_INVALID', false],
      ['read', { endpointUrl: 'http://nope', nodeId: 'i=85' }, 'METHOD_PAYLOAD_INVALID', false],
      ['read', { endpointUrl: 'opc.tcp://127.0.0.1:1', nodeId: 'i=85' }, 'OPCUA_ENDPOINT_UNKNOWN', false],
      ['unwatch', { watchId: 'nope', endpointUrl }, 'OPCUA_WATCH_UNKNOWN', false],
      [
        'write',
        { nodeId: `${NS}Reactor.TemperatureSetpoint`, value: 81, dataType: 'Int32' },
        'OPCUA_TYPE_MISMATCH',
        false,
      ],
      ['watch', { endpointUrl, nodeId: `${NS}No.Such.Node` }, 'OPCUA_NODE_NOT_FOUND', false],
      ['PublishNodes_V1', { EndpointUrl: 'x' }, 'METHOD_PAYLOAD_INVALID', false],
      ['UnpublishNodes_V1', { EndpointUrl: endpointUrl, OpcNodes: [{ Id: 'i=85' }] }, 'OPCUA_REQUEST_INVALID', false],
    ];
    for (const [method, payload, code, retryable] of cases) {
      const result = await h.invoke(method, payload);
      expect({
        method,
        status: result.status,
        code: result.payload['code'],
        retryable: result.payload['retryable'],
      }).toEqual({
        method,
        status: 400,
        code,
        retryable,
      });
    }
    // still serving; with one endpoint configured, endpointUrl may be left out
    const single = await h.invoke('write', {
      nodeId: `${NS}Reactor.TemperatureSetpoint`,
      value: 81,
      dataType: 'Double',
    });
    expect(single.payload).toMatchObject({ ok: true, readBack: { value: 81 } });
    const ok = await h.invoke('read', { endpointUrl, nodeIds: [`${NS}Reactor.TemperatureSetpoint`, `${NS}Nope`] });
    expect(ok.payload).toMatchObject({
      values: [
        { statusCode: 'Good' },
        { nodeId: `${NS}Nope`, error: { code: 'OPCUA_NODE_NOT_FOUND', retryable: false } },
      ],
    });
    // a bad twin patch is refused with 400 and the good configuration stays
    const version = await h.hub.control.patchDesired('opcua-connector', { settings: { batchSize: -1 } });
    await waitFor(async () => {
      const twin = await h.hub.control.twin('opcua-connector');
      const ack = twin.reported['settings'] as { ac: number; av: number } | undefined;
      return ack?.av === version && ack.ac === 400;
    });
  });
});
