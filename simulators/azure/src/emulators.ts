import { randomBytes } from 'node:crypto';
import { type AppInsightsEmulator, startAppInsightsEmulator } from './app-insights/server.js';
import { type DigitalTwinsEmulator, startDigitalTwinsEmulator } from './digital-twins/server.js';
import { type EventGridEmulator, startEventGridEmulator } from './event-grid/server.js';
import type { ServiceBusEntities } from './service-bus/broker.js';
import { type ServiceBusEmulator, startServiceBusEmulator } from './service-bus/server.js';
import { tlsMaterial } from './tls.js';

/** The entities Takt uses (cloud-bridge defaults). */
export const defaultServiceBusEntities: ServiceBusEntities = {
  queues: { 'takt-orders': { lockDurationMs: 30_000, maxDeliveryCount: 10 } },
  topics: {
    'takt-status': {
      subscriptions: {
        all: { rule: '1=1' },
        failures: { rule: "state = 'failed' OR type IN ('instance.failed', 'step.failed')" },
        alerts: { rule: "type = 'alert'" },
      },
    },
  },
};

export interface AzureEmulatorsOptions {
  /** Where the local CA and server certificate live (created if missing). */
  certDir: string;
  /** Bind address of every emulator. Default 127.0.0.1. */
  host?: string;
  digitalTwins?: boolean | { port?: number };
  serviceBus?:
    boolean | { port?: number; entities?: ServiceBusEntities; key?: string; duplicateDetectionWindowMs?: number };
  eventGrid?: boolean | { port?: number; key?: string };
  appInsights?: boolean | { port?: number };
}

export interface AzureEmulators {
  /** PEM of the CA that signed the HTTPS emulators' certificate, and its file (for NODE_EXTRA_CA_CERTS). */
  readonly caCertPem: string;
  readonly caCertPath: string;
  readonly digitalTwins: DigitalTwinsEmulator | undefined;
  readonly serviceBus: ServiceBusEmulator | undefined;
  readonly eventGrid: EventGridEmulator | undefined;
  readonly appInsights: AppInsightsEmulator | undefined;
  /** Environment variables that point cloud-bridge (and App Insights) at these emulators. */
  env(): Record<string, string>;
  close(): Promise<void>;
}

function pick<T extends object>(value: boolean | T | undefined): T | undefined {
  if (value === false) return undefined;
  return value === true || value === undefined ? ({} as T) : value;
}

/**
 * Starts the Azure emulators in this process (each on port 0 unless given).
 *
 * @example
 * const azure = await startAzureEmulators({ certDir: dir.join('certs'), host: '127.0.0.1' });
 * new ServiceBusClient(azure.serviceBus!.connectionString);
 * await azure.close();
 */
export async function startAzureEmulators(options: AzureEmulatorsOptions): Promise<AzureEmulators> {
  const host = options.host ?? '127.0.0.1';
  const tls = tlsMaterial(options.certDir, host);
  const started: { close(): Promise<void> }[] = [];
  try {
    const dtOptions = pick(options.digitalTwins);
    const digitalTwins = dtOptions
      ? await startDigitalTwinsEmulator({
          host,
          tls,
          ...(dtOptions.port === undefined ? {} : { port: dtOptions.port }),
        })
      : undefined;
    if (digitalTwins) started.push(digitalTwins);
    const sbOptions = pick(options.serviceBus);
    const serviceBus = sbOptions
      ? await startServiceBusEmulator({
          host,
          entities: sbOptions.entities ?? defaultServiceBusEntities,
          ...(sbOptions.port === undefined ? {} : { port: sbOptions.port }),
          ...(sbOptions.key === undefined ? {} : { key: sbOptions.key }),
          ...(sbOptions.duplicateDetectionWindowMs === undefined
            ? {}
            : { duplicateDetectionWindowMs: sbOptions.duplicateDetectionWindowMs }),
        })
      : undefined;
    if (serviceBus) started.push(serviceBus);
    const egOptions = pick(options.eventGrid);
    const eventGrid = egOptions
      ? await startEventGridEmulator({
          host,
          tls,
          key: egOptions.key ?? randomBytes(24).toString('base64'),
          ...(egOptions.port === undefined ? {} : { port: egOptions.port }),
        })
      : undefined;
    if (eventGrid) started.push(eventGrid);
    const aiOptions = pick(options.appInsights);
    const appInsights = aiOptions
      ? await startAppInsightsEmulator({ host, tls, ...(aiOptions.port === undefined ? {} : { port: aiOptions.port }) })
      : undefined;
    if (appInsights) started.push(appInsights);
    return {
      caCertPem: tls.caCertPem,
      caCertPath: tls.caCertPath,
      digitalTwins,
      serviceBus,
      eventGrid,
      appInsights,
      env() {
        return {
          NODE_EXTRA_CA_CERTS: tls.caCertPath,
          ...(digitalTwins ? { TAKT_DT_URL: digitalTwins.url, TAKT_DT_TOKEN: 'emulator' } : {}),
          ...(serviceBus ? { TAKT_SB_CONNECTION_STRING: serviceBus.connectionString } : {}),
          ...(eventGrid ? { TAKT_EG_ENDPOINT: eventGrid.endpoint, TAKT_EG_KEY: eventGrid.key } : {}),
          ...(appInsights ? { APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.connectionString } : {}),
        };
      },
      async close() {
        for (const s of started.reverse()) await s.close();
      },
    };
  } catch (error) {
    for (const s of started.reverse()) await s.close();
    throw error;
  }
}
