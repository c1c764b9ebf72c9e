import { type IncomingMessage, createServer } from 'node:http';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createTelemetry, parseAppInsightsConnectionString, silentLogger } from '@takt/edge-kit';

describe('edge-kit createTelemetry (Application Insights)', () => {
  it('without a connection string is a no-op that starts nothing', async () => {
    const before = process.getActiveResourcesInfo().sort();
    const telemetry = await createTelemetry({ env: {}, roleName: 'x', logger: silentLogger });
    telemetry.trackMetric('m', 1);
    telemetry.trackTrace('t');
    expect(telemetry.enabled).toBe(false);
    expect(telemetry.stats()).toEqual({ sent: 0, dropped: 0, queued: 0, failures: 0 });
    expect(process.getActiveResourcesInfo().sort()).toEqual(before);
    await telemetry.close();
  });

  it('parses connection strings', () => {
    expect(parseAppInsightsConnectionString('InstrumentationKey=k;IngestionEndpoint=https://h:1')).toEqual({
      instrumentationKey: 'k',
      ingestionEndpoint: 'https://h:1/',
    });
    expect(parseAppInsightsConnectionString('IngestionEndpoint=https://h')).toBeUndefined();
  });

  it('batches envelopes and flushes them on close', async () => {
    const received: unknown[] = [];
    const server = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ url: req.url, items: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown });
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end('{"itemsReceived":1,"itemsAccepted":1,"errors":[]}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const telemetry = await createTelemetry({
      env: {
        APPLICATIONINSIGHTS_CONNECTION_STRING: `InstrumentationKey=ik;IngestionEndpoint=http://127.0.0.1:${port}/`,
      },
      roleName: 'cloud-bridge',
      logger: silentLogger,
    });
    telemetry.trackMetric('orders', 2, { sink: 'a' });
    telemetry.trackTrace('hello', 'warning');
    telemetry.trackException(new Error('boom'));
    await telemetry.close();
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({
      url: '/v2.1/track',
      items: [
        {
          name: 'Microsoft.ApplicationInsights.Metric',
          iKey: 'ik',
          tags: { 'ai.cloud.role': 'cloud-bridge' },
          data: {
            baseType: 'MetricData',
            baseData: { metrics: [{ name: 'orders', value: 2 }], properties: { sink: 'a' } },
          },
        },
        { data: { baseType: 'MessageData', baseData: { message: 'hello', severityLevel: 2 } } },
        { data: { baseType: 'ExceptionData', baseData: { exceptions: [{ message: 'boom' }] } } },
      ],
    });
    expect(telemetry.stats()).toMatchObject({ sent: 3, queued: 0 });
  });
});
