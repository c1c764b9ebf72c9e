import { describe, expect, it } from 'vitest';
import { Counter, createMetricsServer, silentLogger } from '../../src/index.js';

describe('metrics server', () => {
  it('serves Prometheus text with process metrics and default labels', async () => {
    const metrics = createMetricsServer({
      port: 0,
      host: '127.0.0.1',
      logger: silentLogger,
      defaultLabels: { module: 'test' },
    });
    await metrics.start();
    try {
      const counter = new Counter({ name: 'takt_test_total', help: 'a test counter', registers: [metrics.registry] });
      counter.inc(3);
      const response = await fetch(`http://127.0.0.1:${metrics.port()}/metrics`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toContain('text/plain');
      const text = await response.text();
      expect(text).toContain('takt_test_total{module="test"} 3');
      expect(text).toMatch(/process_resident_memory_bytes\{module="test"\} \d+/);
      expect((await fetch(`http://127.0.0.1:${metrics.port()}/other`)).status).toBe(404);
    } finally {
      await metrics.close();
      await metrics.close();
    }
  });
});
