/**
 * Application Insights for the connector through edge-kit's `createTelemetry`: off (nothing loaded, no
 * timer, no socket) unless `APPLICATIONINSIGHTS_CONNECTION_STRING` is set. Every interval, per endpoint:
 * `opcua_values_sent` and `opcua_values_dropped` (value changes in the interval) and `opcua_session_active`
 * (1/0); a trace when an endpoint's session state changes. Flushed when the lifecycle closes.
 */
import { type Lifecycle, type Logger, type Telemetry, createTelemetry, telemetrySampler } from '@takt/edge-kit';

/** The fields of one `endpointHealth` entry the sampler reads. */
interface EndpointCounters {
  endpointUrl: string;
  sessionState: string;
  valuesSent: number;
  valuesDropped: number;
}

/** What the sampler reads: the connector's health snapshot (keyed like the reported property). */
export interface ConnectorTelemetrySource {
  health(): Record<string, unknown>;
}

function counters(entry: unknown): EndpointCounters | undefined {
  if (typeof entry !== 'object' || entry === null) return undefined;
  const e = entry as Partial<Record<keyof EndpointCounters, unknown>>;
  if (typeof e.endpointUrl !== 'string') return undefined;
  return {
    endpointUrl: e.endpointUrl,
    sessionState: typeof e.sessionState === 'string' ? e.sessionState : 'none',
    valuesSent: typeof e.valuesSent === 'number' ? e.valuesSent : 0,
    valuesDropped: typeof e.valuesDropped === 'number' ? e.valuesDropped : 0,
  };
}

/** Creates the module's telemetry and registers it, so it is flushed after the components added later. */
export async function startConnectorTelemetry(
  lifecycle: Lifecycle,
  options: { env: Readonly<Record<string, string | undefined>>; logger: Logger; roleInstance: string },
): Promise<Telemetry> {
  const telemetry = await createTelemetry({
    env: options.env,
    roleName: 'opcua-connector',
    roleInstance: options.roleInstance,
    logger: options.logger,
  });
  return lifecycle.add(telemetry);
}

/** Registers the periodic metrics; add it after the connector so its last sample runs before that closes. */
export async function sampleConnectorTelemetry(
  lifecycle: Lifecycle,
  telemetry: Telemetry,
  source: ConnectorTelemetrySource,
  intervalMs = 60_000,
): Promise<void> {
  const last = new Map<string, EndpointCounters>();
  await lifecycle.add(
    telemetrySampler(telemetry, {
      name: 'opcua-connector-telemetry',
      intervalMs,
      sample: (t) => {
        for (const [key, entry] of Object.entries(source.health())) {
          const now = counters(entry);
          if (!now) continue;
          const before = last.get(key);
          const properties = { endpoint: now.endpointUrl };
          t.trackMetric('opcua_values_sent', now.valuesSent - (before?.valuesSent ?? 0), properties);
          t.trackMetric('opcua_values_dropped', now.valuesDropped - (before?.valuesDropped ?? 0), properties);
          t.trackMetric('opcua_session_active', now.sessionState === 'active' ? 1 : 0, properties);
          if (before !== undefined && before.sessionState !== now.sessionState) {
            t.trackTrace(
              `OPC UA session ${now.sessionState === 'active' ? 'active' : 'lost'}: ${now.endpointUrl}`,
              now.sessionState === 'active' ? 'information' : 'warning',
              { ...properties, sessionState: now.sessionState, previous: before.sessionState },
            );
          }
          last.set(key, now);
        }
      },
    }),
  );
}
