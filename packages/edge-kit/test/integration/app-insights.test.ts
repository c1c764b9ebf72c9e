import { type Socket, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { type AzureEmulators, startAzureEmulators } from '@takt/sim-azure';
import { createTelemetry, silentLogger } from '@takt/edge-kit';
import { type TempDir, createTempDir, spawnTs, waitFor, workerEgressGuard } from '@takt/test-support';

const IKEY = '00000000-0000-4000-8000-000000000001';
const fixture = fileURLToPath(new URL('./fixtures/telemetry-module.ts', import.meta.url));

describe('Application Insights through createTelemetry (real SDK, ingestion emulator)', () => {
  let dir: TempDir | undefined;
  let azure: AzureEmulators | undefined;
  afterEach(async () => {
    await azure?.close();
    await dir?.remove();
  });

  it('without a connection string the module loads nothing', async () => {
    const child = spawnTs(fixture, [], { name: 'no-ai', env: { APPLICATIONINSIGHTS_CONNECTION_STRING: '' } });
    expect(await child.waitForLine(/^ready /, 30_000)).toBe('ready false false');
    expect(await child.stop()).toBe(0);
  });

  it("a module's custom metrics and traces arrive, flushed on shutdown", async () => {
    dir = await createTempDir('takt-ai-');
    azure = await startAzureEmulators({
      certDir: dir.join('certs'),
      host: '127.0.0.1',
      digitalTwins: false,
      serviceBus: false,
      eventGrid: false,
      appInsights: true,
    });
    const emulator = azure.appInsights;
    if (!emulator) throw new Error('no emulator');
    const child = spawnTs(fixture, [], {
      name: 'with-ai',
      env: { APPLICATIONINSIGHTS_CONNECTION_STRING: emulator.connectionString, NODE_EXTRA_CA_CERTS: azure.caCertPath },
    });
    expect(await child.waitForLine(/^ready /, 60_000)).toBe('ready true true');
    const stopping = Date.now();
    expect(await child.stop(10_000)).toBe(0);
    // flushed and shut down inside the lifecycle's close timeout (5 s)
    expect(Date.now() - stopping).toBeLessThan(5_000);
    // The isolated client runs no resource detector and statsbeat is off: not even a refused attempt to
    // reach IMDS (169.254.169.254) or *.applicationinsights.azure.com. Anything refused fails here by name.
    expect((workerEgressGuard()?.take() ?? []).map((v) => `${v.kind} ${v.target}`)).toEqual([]);
    const envelopes = await waitFor(() => (emulator.envelopes().length >= 3 ? emulator.envelopes() : undefined), {
      timeoutMs: 5_000,
    });
    const metrics = envelopes.flatMap((e) =>
      e.data?.baseType === 'MetricData'
        ? ((e.data.baseData?.['metrics'] as { name: string; value: number }[] | undefined) ?? [])
        : [],
    );
    expect(metrics.map((m) => m.name).sort()).toEqual(['module_custom_metric', 'module_samples']);
    expect(metrics.find((m) => m.name === 'module_custom_metric')?.value).toBe(42);
    const traces = envelopes.filter((e) => e.data?.baseType === 'MessageData');
    expect(traces.map((e) => e.data?.baseData?.['message'])).toEqual(['module trace']);
    for (const envelope of envelopes) {
      expect(envelope.tags).toMatchObject({ 'ai.cloud.role': 'telemetry-module', 'ai.cloud.roleInstance': 'device-1' });
    }
  });

  it('with statsbeat switched back on, the guard refuses exactly the IMDS/Azure calls it makes', async () => {
    dir = await createTempDir('takt-ai-');
    azure = await startAzureEmulators({
      certDir: dir.join('certs'),
      host: '127.0.0.1',
      digitalTwins: false,
      serviceBus: false,
      eventGrid: false,
      appInsights: true,
    });
    const emulator = azure.appInsights;
    if (!emulator) throw new Error('no emulator');
    const child = spawnTs(fixture, [], {
      name: 'statsbeat-on',
      env: {
        APPLICATIONINSIGHTS_CONNECTION_STRING: emulator.connectionString,
        NODE_EXTRA_CA_CERTS: azure.caCertPath,
        APPLICATION_INSIGHTS_NO_STATSBEAT: '',
        APPLICATIONINSIGHTS_STATSBEAT_DISABLED: '',
        APPLICATIONINSIGHTS_SDKSTATS_DISABLED: '',
      },
    });
    expect(await child.waitForLine(/^ready /, 60_000)).toBe('ready true true');
    const refused = await waitFor(
      () => {
        const got = workerEgressGuard()?.take() ?? [];
        return got.length > 0 ? got : undefined;
      },
      { timeoutMs: 20_000 },
    );
    expect(await child.stop(10_000)).toBe(0);
    const all = [...refused, ...(workerEgressGuard()?.take() ?? [])].map((v) => `${v.kind} ${v.target}`);
    // exactly the Azure instance metadata service (and statsbeat's Azure hosts): anything else fails here
    expect(all).toContain('connection 169.254.169.254:80');
    for (const attempt of all) {
      expect(attempt).toMatch(
        /^(connection 169\.254\.169\.254:80|(connection|DNS [a-zA-Z]+) [a-z0-9.-]+\.(applicationinsights|monitor)\.azure\.com(:443)?)$/,
      );
    }
  });

  it('close() is bounded by the close timeout when the endpoint never answers (in-process)', async () => {
    // accepts TCP connections and never answers: the TLS handshake (and so the flush) hangs
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    try {
      const telemetry = await createTelemetry({
        env: {
          APPLICATIONINSIGHTS_CONNECTION_STRING: `InstrumentationKey=${IKEY};IngestionEndpoint=https://127.0.0.1:${port}/`,
        },
        roleName: 'unreachable',
        logger: silentLogger,
        closeTimeoutMs: 1_000,
      });
      expect(telemetry.enabled).toBe(true);
      telemetry.trackMetric('m', 1);
      telemetry.trackTrace('t');
      const started = Date.now();
      await telemetry.close();
      const took = Date.now() - started;
      expect(took).toBeGreaterThanOrEqual(900);
      expect(took).toBeLessThan(2_500);
      expect(telemetry.stats()).toMatchObject({ sent: 0, dropped: 2 });
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('an instrumentation key that is not a GUID (which the SDK would drop silently) leaves telemetry off', async () => {
    const telemetry = await createTelemetry({
      env: {
        APPLICATIONINSIGHTS_CONNECTION_STRING: 'InstrumentationKey=not-a-key;IngestionEndpoint=https://127.0.0.1:1/',
      },
      roleName: 'bad-key',
      logger: silentLogger,
    });
    expect(telemetry.enabled).toBe(false);
  });
});
