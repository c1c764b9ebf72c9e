import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { Lifecycle, type Telemetry, silentLogger } from '@takt/edge-kit';
import { sampleAuditTelemetry, startAuditTelemetry } from '../../src/edge/telemetry.js';

function recordingTelemetry(): Telemetry & { metrics: [string, number][] } {
  const metrics: [string, number][] = [];
  return {
    name: 'app-insights',
    enabled: true,
    metrics,
    trackMetric: (name, value) => void metrics.push([name, value]),
    trackTrace: () => undefined,
    trackEvent: () => undefined,
    trackException: () => undefined,
    flush: () => Promise.resolve(),
    close: () => Promise.resolve(),
    stats: () => ({ sent: 0, dropped: 0, queued: 0, failures: 0 }),
  };
}

describe('audit telemetry wiring', () => {
  it('without a connection string starts nothing: no timer, no socket, no SDK loaded', async () => {
    const lifecycle = new Lifecycle({ logger: silentLogger });
    const before = process.getActiveResourcesInfo().sort();
    const telemetry = await startAuditTelemetry(lifecycle, { env: {}, logger: silentLogger });
    await sampleAuditTelemetry(lifecycle, telemetry, { stats: { appended: 0 }, head: { seq: 0 } }, 10);
    expect(telemetry.enabled).toBe(false);
    expect(process.getActiveResourcesInfo().sort()).toEqual(before);
    expect(
      Object.keys(createRequire(import.meta.url).cache).filter((path) => path.includes('applicationinsights')),
    ).toEqual([]);
    await lifecycle.close();
  });

  it('tracks records per second and chain length, and samples a last time on close', async () => {
    const lifecycle = new Lifecycle({ logger: silentLogger });
    const telemetry = recordingTelemetry();
    const source = { stats: { appended: 0 }, head: { seq: 10 } };
    await sampleAuditTelemetry(lifecycle, telemetry, source, 3_600_000);
    source.stats.appended = 5;
    source.head.seq = 15;
    await lifecycle.close();
    expect(telemetry.metrics.map(([name]) => name)).toEqual(['audit_records_per_second', 'audit_chain_length']);
    expect(telemetry.metrics[0]?.[1]).toBeGreaterThan(0);
    expect(telemetry.metrics[1]).toEqual(['audit_chain_length', 15]);
  });
});
