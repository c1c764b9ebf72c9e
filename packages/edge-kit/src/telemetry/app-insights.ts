/**
 * Application Insights for every module, through one helper.
 *
 * Off unless `APPLICATIONINSIGHTS_CONNECTION_STRING` is set: then nothing is loaded, no timer runs and no
 * socket is opened. When it is set, the `applicationinsights` 3.x SDK is loaded lazily (dynamic import, see
 * ./sdk.ts: isolated client, statsbeat/SDK stats/live metrics/offline storage off, every trace sampled) and
 * flushed and shut down by `close()` within the close timeout.
 *
 * The SDK speaks HTTPS only (an `http://` IngestionEndpoint is rewritten to https and what fails is dropped
 * silently). For a plain-HTTP endpoint (a local collector or test double without TLS) this file keeps a
 * minimal sender of the same public contract: envelopes to `<IngestionEndpoint>/v2.1/track`, batched,
 * flushed on a timer and on `close()`.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../logger.js';

/** Severity of a trace, as Application Insights numbers it (0 verbose … 4 critical). */
export type TraceSeverity = 'verbose' | 'information' | 'warning' | 'error' | 'critical';

const SEVERITY: Record<TraceSeverity, number> = { verbose: 0, information: 1, warning: 2, error: 3, critical: 4 };

export interface AppInsightsOptions {
  /** Read for `APPLICATIONINSIGHTS_CONNECTION_STRING` (pass `process.env` from main.ts). */
  env: Readonly<Record<string, string | undefined>>;
  /** `ai.cloud.role`: the module name, e.g. `cloud-bridge`. */
  roleName: string;
  /** `ai.cloud.roleInstance`, e.g. the device id. Default: the role name. */
  roleInstance?: string;
  logger: Logger;
  /** Plain-HTTP sender only: how often queued telemetry is sent. Default 15,000 ms. */
  flushIntervalMs?: number;
  /** Plain-HTTP sender only: envelopes held while the endpoint is unreachable (oldest dropped). Default 10,000. */
  maxQueued?: number;
  /** Plain-HTTP sender only: per request. Default 10,000 ms. */
  requestTimeoutMs?: number;
  /** `close()` gives up flushing after this; below the lifecycle's 5 s per component. Default 4,000 ms. */
  closeTimeoutMs?: number;
}

/** What modules call. Every method is cheap and never throws; with telemetry off they do nothing. */
export interface Telemetry {
  readonly name: 'app-insights';
  /** False when no connection string is configured. */
  readonly enabled: boolean;
  trackMetric(name: string, value: number, properties?: Readonly<Record<string, string>>): void;
  trackTrace(message: string, severity?: TraceSeverity, properties?: Readonly<Record<string, string>>): void;
  trackEvent(
    name: string,
    properties?: Readonly<Record<string, string>>,
    measurements?: Readonly<Record<string, number>>,
  ): void;
  trackException(error: unknown, properties?: Readonly<Record<string, string>>): void;
  /** Sends what is queued now. */
  flush(): Promise<void>;
  /** Flushes (bounded by the close timeout) and stops the timer; idempotent. */
  close(): Promise<void>;
  /**
   * Counters for health reports. With the SDK, `sent` counts items a flush handed to its exporter (the SDK does
   * not report delivery) and `dropped` those still pending when `close()` timed out.
   */
  stats(): { sent: number; dropped: number; queued: number; failures: number };
}

interface Envelope {
  ver: 1;
  name: string;
  time: string;
  sampleRate: 100;
  iKey: string;
  tags: Record<string, string>;
  data: { baseType: string; baseData: Record<string, unknown> };
}

/** Parses `InstrumentationKey=…;IngestionEndpoint=https://…/` (keys case-insensitive). */
export function parseAppInsightsConnectionString(
  text: string,
): { instrumentationKey: string; ingestionEndpoint: string } | undefined {
  const fields = new Map<string, string>();
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  const instrumentationKey = fields.get('instrumentationkey');
  if (!instrumentationKey) return undefined;
  const suffix = fields.get('endpointsuffix');
  const endpoint =
    fields.get('ingestionendpoint') ?? (suffix ? `https://dc.${suffix}` : 'https://dc.services.visualstudio.com');
  return { instrumentationKey, ingestionEndpoint: endpoint.endsWith('/') ? endpoint : `${endpoint}/` };
}

const disabled: Telemetry = {
  name: 'app-insights',
  enabled: false,
  trackMetric: () => undefined,
  trackTrace: () => undefined,
  trackEvent: () => undefined,
  trackException: () => undefined,
  flush: () => Promise.resolve(),
  close: () => Promise.resolve(),
  stats: () => ({ sent: 0, dropped: 0, queued: 0, failures: 0 }),
};

/**
 * Creates the module's telemetry. Without a connection string it returns a no-op and loads nothing.
 *
 * @example
 * const telemetry = await createTelemetry({ env: process.env, roleName: 'cloud-bridge', logger });
 * await lifecycle.add(telemetry);
 * telemetry.trackMetric('orders_received', 1);
 */
export async function createTelemetry(options: AppInsightsOptions): Promise<Telemetry> {
  const raw = options.env['APPLICATIONINSIGHTS_CONNECTION_STRING'];
  if (raw === undefined || raw.trim() === '') return disabled;
  const logger = options.logger.child({ component: 'app-insights' });
  const parsed = parseAppInsightsConnectionString(raw);
  if (!parsed) {
    logger.warn('APPLICATIONINSIGHTS_CONNECTION_STRING has no InstrumentationKey; telemetry stays off');
    return disabled;
  }
  const url = new URL('v2.1/track', parsed.ingestionEndpoint);
  if (url.protocol !== 'http:') {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(parsed.instrumentationKey)) {
      // the SDK would accept it and drop every item silently
      logger.warn('APPLICATIONINSIGHTS_CONNECTION_STRING: InstrumentationKey is not a GUID; telemetry stays off', {
        hint: 'copy the connection string from the Application Insights resource overview',
      });
      return disabled;
    }
    // Loaded only now: a module without Application Insights never loads the SDK (1.5–2 s, ~60 MB).
    const { createSdkTelemetry } = await import('./sdk.js');
    return createSdkTelemetry(options, raw.trim(), logger);
  }
  const client = await import('node:http');
  const maxQueued = Math.max(1, options.maxQueued ?? 10_000);
  const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  const tags = {
    'ai.cloud.role': options.roleName,
    'ai.cloud.roleInstance': options.roleInstance ?? options.roleName,
    'ai.internal.sdkVersion': 'takt-edge-kit:0.1.0',
  };
  const queue: Envelope[] = [];
  const counters = { sent: 0, dropped: 0, failures: 0 };
  let sending: Promise<void> | undefined;
  let closed = false;

  const enqueue = (kind: string, baseData: Record<string, unknown>): void => {
    if (closed) return;
    queue.push({
      ver: 1,
      name: `Microsoft.ApplicationInsights.${kind}`,
      time: new Date().toISOString(),
      sampleRate: 100,
      iKey: parsed.instrumentationKey,
      tags: { ...tags, 'ai.operation.id': randomUUID().replace(/-/g, '') },
      data: { baseType: `${kind}Data`, baseData: { ver: 2, ...baseData } },
    });
    if (queue.length > maxQueued) counters.dropped += queue.splice(0, queue.length - maxQueued).length;
  };

  const post = (batch: Envelope[]): Promise<number> =>
    new Promise((resolve, reject) => {
      const body = JSON.stringify(batch);
      const req = client.request(
        url,
        {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          timeout: requestTimeoutMs,
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`Application Insights did not answer in ${requestTimeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });

  const sendQueued = async (): Promise<void> => {
    // one request at a time; bounded by the queue length at the start
    let rounds = Math.ceil(queue.length / 500);
    while (queue.length > 0 && rounds > 0) {
      rounds -= 1;
      const batch = queue.splice(0, 500);
      let status: number;
      try {
        status = await post(batch);
      } catch (error) {
        counters.failures += 1;
        queue.unshift(...batch);
        logger.debug('could not reach Application Insights; keeping telemetry for the next flush', { error });
        return;
      }
      if (status === 200 || status === 206) {
        counters.sent += batch.length;
      } else if ([401, 403, 408, 429, 439, 500, 502, 503, 504].includes(status)) {
        counters.failures += 1;
        queue.unshift(...batch);
        return;
      } else {
        counters.dropped += batch.length;
        logger.warn('Application Insights refused telemetry; dropped', { status, items: batch.length });
      }
    }
  };

  const flush = async (): Promise<void> => {
    while (sending) await sending;
    sending = sendQueued().finally(() => {
      sending = undefined;
    });
    await sending;
  };

  const timer = setInterval(() => void flush(), options.flushIntervalMs ?? 15_000);
  timer.unref();
  logger.info('Application Insights telemetry on (plain HTTP sender)', { endpoint: url.origin });

  return {
    name: 'app-insights',
    enabled: true,
    trackMetric(name, value, properties) {
      enqueue('Metric', { metrics: [{ name, value, count: 1 }], ...(properties ? { properties } : {}) });
    },
    trackTrace(message, severity = 'information', properties) {
      enqueue('Message', { message, severityLevel: SEVERITY[severity], ...(properties ? { properties } : {}) });
    },
    trackEvent(name, properties, measurements) {
      enqueue('Event', { name, ...(properties ? { properties } : {}), ...(measurements ? { measurements } : {}) });
    },
    trackException(error, properties) {
      const e = error instanceof Error ? error : new Error(String(error));
      enqueue('Exception', {
        exceptions: [{ typeName: e.name, message: e.message, hasFullStack: e.stack !== undefined, stack: e.stack }],
        severityLevel: SEVERITY.error,
        ...(properties ? { properties } : {}),
      });
    },
    flush,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      let timeout: NodeJS.Timeout | undefined;
      await Promise.race([
        flush(),
        new Promise<void>((resolve) => {
          timeout = setTimeout(resolve, options.closeTimeoutMs ?? 4_000);
        }),
      ]);
      clearTimeout(timeout);
      if (queue.length > 0) {
        counters.dropped += queue.length;
        logger.warn('telemetry not sent before shutdown', { items: queue.splice(0).length });
      }
    },
    stats: () => ({ ...counters, queued: queue.length }),
  };
}
