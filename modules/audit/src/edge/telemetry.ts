/**
 * Application Insights for the audit module through edge-kit's `createTelemetry`: off (nothing loaded,
 * no timer, no socket) unless `APPLICATIONINSIGHTS_CONNECTION_STRING` is set. Custom metrics every
 * interval: `audit_records_per_second` (records chained in the interval) and `audit_chain_length` (head
 * sequence number). Flushed when the lifecycle closes.
 */
import { type Lifecycle, type Logger, type Telemetry, createTelemetry, telemetrySampler } from '@takt/edge-kit';

/** What the sampler reads: the service's counters and the store's head. */
export interface AuditTelemetrySource {
  readonly stats: { readonly appended: number };
  readonly head: { readonly seq: number };
}

/** Creates the module's telemetry and registers it first, so it is flushed after everything else closed. */
export async function startAuditTelemetry(
  lifecycle: Lifecycle,
  options: { env: Readonly<Record<string, string | undefined>>; logger: Logger },
): Promise<Telemetry> {
  const telemetry = await createTelemetry({
    env: options.env,
    roleName: 'audit',
    roleInstance: options.env['IOTEDGE_DEVICEID'] ?? 'audit',
    logger: options.logger,
  });
  return lifecycle.add(telemetry);
}

/** Registers the periodic metrics; add it after the audit module so its last sample runs before that closes. */
export async function sampleAuditTelemetry(
  lifecycle: Lifecycle,
  telemetry: Telemetry,
  source: AuditTelemetrySource,
  intervalMs = 60_000,
): Promise<void> {
  let lastAppended = source.stats.appended;
  await lifecycle.add(
    telemetrySampler(telemetry, {
      name: 'audit-telemetry',
      intervalMs,
      sample: (t, elapsedMs) => {
        const appended = source.stats.appended;
        t.trackMetric('audit_records_per_second', ((appended - lastAppended) * 1000) / elapsedMs);
        t.trackMetric('audit_chain_length', source.head.seq);
        lastAppended = appended;
      },
    }),
  );
}
