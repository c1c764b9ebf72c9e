import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Listener, httpListener } from '../endpoint.js';
import { HttpError, readJson, sendJson } from '../http-util.js';

export interface AppInsightsEmulatorOptions {
  host?: string;
  port?: number;
  /** HTTPS only: the exporter rewrites http:// endpoints to https:// and silently drops what fails. */
  tls: { cert: string; key: string };
  instrumentationKey?: string;
}

/** One telemetry envelope as the exporter sends it. */
export interface TelemetryEnvelope {
  name: string;
  time: string;
  iKey: string;
  tags?: Record<string, string>;
  data?: { baseType?: string; baseData?: Record<string, unknown> };
}

export interface AppInsightsEmulator {
  readonly connectionString: string;
  readonly listener: Listener;
  envelopes(): TelemetryEnvelope[];
  close(): Promise<void>;
}

/** The Application Insights ingestion endpoint (`POST /v2.1/track`, `/v2/track`). */
export async function startAppInsightsEmulator(options: AppInsightsEmulatorOptions): Promise<AppInsightsEmulator> {
  const host = options.host ?? '127.0.0.1';
  const iKey = options.instrumentationKey ?? '00000000-0000-4000-8000-000000000001';
  const received: TelemetryEnvelope[] = [];
  const handler = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    if (req.method !== 'POST' || !/^\/v2(\.1)?\/track$/.test(url.pathname)) {
      throw new HttpError(404, 'NotFound', `${req.method ?? ''} ${url.pathname}`);
    }
    const body = await readJson(req);
    const items = (Array.isArray(body) ? body : [body]) as TelemetryEnvelope[];
    received.push(...items);
    sendJson(res, 200, { itemsReceived: items.length, itemsAccepted: items.length, errors: [] });
  };
  const listener = httpListener('Application Insights emulator', host, options.port ?? 0, options.tls, handler);
  await listener.start();
  return {
    get connectionString() {
      return `InstrumentationKey=${iKey};IngestionEndpoint=https://${host}:${listener.port}/`;
    },
    listener,
    envelopes: () => [...received],
    close: () => listener.close(),
  };
}
