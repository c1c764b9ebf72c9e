/**
 * Periodic custom metrics for Application Insights: a lifecycle component that reads a module's state on
 * a timer and tracks it through a {@link Telemetry}. With telemetry off it starts no timer at all.
 */
import type { Component } from '../lifecycle.js';
import type { Telemetry } from './app-insights.js';

export interface TelemetrySamplerOptions {
  /** Component name in the lifecycle log. Default `telemetry-sampler`. */
  name?: string;
  /** How often `sample` runs. Default 60,000 ms (the Application Insights metric aggregation period). */
  intervalMs?: number;
  /**
   * Reads the module's state and tracks metrics; `elapsedMs` is the time since the previous sample (or since
   * start). Runs once more on close, so the last interval is not lost. Must not throw (errors are swallowed).
   */
  sample(telemetry: Telemetry, elapsedMs: number): void;
  /** Clock, for tests. Default `Date.now`. */
  now?: () => number;
}

/**
 * Add it to the lifecycle after the components it reads, so it closes (and samples a last time) before them,
 * and after `telemetry`, so telemetry is flushed after the last sample.
 *
 * @example
 * const telemetry = await lifecycle.add(await createTelemetry({ env: process.env, roleName: 'audit', logger }));
 * await lifecycle.add(telemetrySampler(telemetry, { sample: (t) => t.trackMetric('queue_length', queue.length) }));
 */
export function telemetrySampler(telemetry: Telemetry, options: TelemetrySamplerOptions): Component {
  const now = options.now ?? Date.now;
  let timer: NodeJS.Timeout | undefined;
  let last = now();
  let closed = false;
  const sampleOnce = (): void => {
    const at = now();
    const elapsed = Math.max(1, at - last);
    last = at;
    try {
      options.sample(telemetry, elapsed);
    } catch {
      // telemetry must never take the module down
    }
  };
  return {
    name: options.name ?? 'telemetry-sampler',
    start() {
      if (!telemetry.enabled || closed) return;
      last = now();
      timer = setInterval(sampleOnce, options.intervalMs ?? 60_000);
      timer.unref();
    },
    close() {
      if (closed) return;
      closed = true;
      if (timer === undefined) return;
      clearInterval(timer);
      timer = undefined;
      sampleOnce();
    },
  };
}
