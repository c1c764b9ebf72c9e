import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '@takt/test-support';
import { loadTelemetry, noTelemetry } from '../../src/index.js';
import { logger } from './harness.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('Application Insights telemetry', () => {
  it('is the no-op sink when no connection string is set', async () => {
    expect(await loadTelemetry({}, logger)).toBe(noTelemetry);
    expect(await loadTelemetry({ APPLICATIONINSIGHTS_CONNECTION_STRING: '  ' }, logger)).toBe(noTelemetry);
  });

  it('sends workflow duration, step latency and failures as custom metrics to the ingestion endpoint', async () => {
    const received: { name?: string; data?: { baseData?: { metrics?: { name: string; value: number }[] } } }[] = [];
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
        received.push(...((Array.isArray(body) ? body : [body]) as typeof received));
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"itemsReceived":1,"itemsAccepted":1}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const telemetry = await loadTelemetry(
      {
        APPLICATIONINSIGHTS_CONNECTION_STRING: `InstrumentationKey=00000000-0000-4000-8000-000000000001;IngestionEndpoint=http://127.0.0.1:${port}/`,
      },
      logger,
      'takt-edge',
    );
    expect(telemetry).not.toBe(noTelemetry);
    telemetry.workflowDuration(1234, { workflowId: 'dose', status: 'succeeded' });
    telemetry.stepLatency(7, { workflowId: 'dose', step: 'write', ok: true });
    telemetry.failure({ workflowId: 'dose', code: 'DEVICE_UNREACHABLE' });
    await telemetry.close();
    const names = await waitFor(
      () => {
        const all = received.flatMap((e) => e.data?.baseData?.metrics?.map((m) => m.name) ?? []);
        return all.length >= 3 ? all : undefined;
      },
      { timeoutMs: 10_000 },
    );
    expect(names.sort()).toEqual(['step_latency_ms', 'workflow_duration_ms', 'workflow_failures']);
  });
});
