import { describe, expect, it } from 'vitest';
import { Lifecycle, type Telemetry, createTelemetry, silentLogger, telemetrySampler } from '../../src/index.js';

function recording(enabled: boolean): Telemetry & { metrics: [string, number][] } {
  const metrics: [string, number][] = [];
  return {
    name: 'app-insights',
    enabled,
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

describe('telemetrySampler', () => {
  it('starts no timer when telemetry is off', async () => {
    const lifecycle = new Lifecycle({ logger: silentLogger });
    const telemetry = recording(false);
    const before = process.getActiveResourcesInfo().sort();
    await lifecycle.add(telemetrySampler(telemetry, { intervalMs: 1, sample: (t) => t.trackMetric('x', 1) }));
    expect(process.getActiveResourcesInfo().sort()).toEqual(before);
    await lifecycle.close();
    expect(telemetry.metrics).toEqual([]);
  });

  it('samples on close with the elapsed time, once, and survives a throwing sampler', async () => {
    let now = 1_000;
    const telemetry = recording(true);
    let calls = 0;
    const sampler = telemetrySampler(telemetry, {
      intervalMs: 3_600_000,
      now: () => now,
      sample: (t, elapsed) => {
        calls += 1;
        t.trackMetric('elapsed', elapsed);
        throw new Error('sampler bug');
      },
    });
    await sampler.start?.(new AbortController().signal);
    now = 3_500;
    await sampler.close();
    await sampler.close();
    expect(calls).toBe(1);
    expect(telemetry.metrics).toEqual([['elapsed', 2_500]]);
  });
});

describe('createTelemetry without a connection string', () => {
  it('is a no-op that starts nothing', async () => {
    const before = process.getActiveResourcesInfo().sort();
    for (const env of [{}, { APPLICATIONINSIGHTS_CONNECTION_STRING: '  ' }]) {
      const telemetry = await createTelemetry({ env, roleName: 'x', logger: silentLogger });
      telemetry.trackMetric('m', 1);
      telemetry.trackTrace('t');
      expect(telemetry.enabled).toBe(false);
      await telemetry.close();
    }
    expect(process.getActiveResourcesInfo().sort()).toEqual(before);
  });
});
