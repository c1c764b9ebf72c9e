import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { waitFor } from '@takt/test-support';
import { Lifecycle, type Telemetry, type TraceSeverity, silentLogger } from '@takt/edge-kit';
import { sampleConnectorTelemetry, startConnectorTelemetry } from '../../src/edge/telemetry.js';

function recordingTelemetry(): Telemetry & {
  metrics: [string, number, string | undefined][];
  traces: [string, TraceSeverity | undefined][];
} {
  const metrics: [string, number, string | undefined][] = [];
  const traces: [string, TraceSeverity | undefined][] = [];
  return {
    name: 'app-insights',
    enabled: true,
    metrics,
    traces,
    trackMetric: (name, value, properties) => void metrics.push([name, value, properties?.['endpoint']]),
    trackTrace: (message, severity) => void traces.push([message, severity]),
    trackEvent: () => undefined,
    trackException: () => undefined,
    flush: () => Promise.resolve(),
    close: () => Promise.resolve(),
    stats: () => ({ sent: 0, dropped: 0, queued: 0, failures: 0 }),
  };
}

describe('opcua-connector telemetry wiring', () => {
  it('without a connection string starts nothing: no timer, no socket, no SDK loaded', async () => {
    const lifecycle = new Lifecycle({ logger: silentLogger });
    const before = process.getActiveResourcesInfo().sort();
    const telemetry = await startConnectorTelemetry(lifecycle, { env: {}, logger: silentLogger, roleInstance: 'x' });
    await sampleConnectorTelemetry(lifecycle, telemetry, { health: () => ({}) }, 10);
    expect(telemetry.enabled).toBe(false);
    expect(process.getActiveResourcesInfo().sort()).toEqual(before);
    expect(Object.keys(createRequire(import.meta.url).cache).filter((p) => p.includes('applicationinsights'))).toEqual(
      [],
    );
    await lifecycle.close();
  });

  it('tracks values sent/dropped per interval and session state, with a trace when the session changes', async () => {
    const lifecycle = new Lifecycle({ logger: silentLogger });
    const telemetry = recordingTelemetry();
    const url = 'opc.tcp://127.0.0.1:4840';
    const entry = { endpointUrl: url, sessionState: 'active', valuesSent: 10, valuesDropped: 1 };
    await sampleConnectorTelemetry(lifecycle, telemetry, { health: () => ({ e1: { ...entry } }) }, 5);
    await waitFor(() => telemetry.metrics.length >= 3, { timeoutMs: 5_000 });
    Object.assign(entry, { sessionState: 'none', valuesSent: 25, valuesDropped: 4 });
    await lifecycle.close();
    expect(telemetry.metrics.slice(0, 3)).toEqual([
      ['opcua_values_sent', 10, url],
      ['opcua_values_dropped', 1, url],
      ['opcua_session_active', 1, url],
    ]);
    expect(telemetry.metrics.slice(-3)).toEqual([
      ['opcua_values_sent', 15, url],
      ['opcua_values_dropped', 3, url],
      ['opcua_session_active', 0, url],
    ]);
    expect(telemetry.traces).toEqual([[`OPC UA session lost: ${url}`, 'warning']]);
  });
});
