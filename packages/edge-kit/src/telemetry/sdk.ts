/**
 * The `applicationinsights` 3.x SDK behind the {@link Telemetry} interface. Loaded with a dynamic `import()`
 * only from `createTelemetry`, i.e. only when a connection string is configured.
 *
 * The client runs isolated (`useGlobalProviders: false`): its own tracer, meter and logger providers with the
 * Azure Monitor exporters, and none of the global distro (`useAzureMonitor`): no auto-instrumentation patching
 * http, no Azure resource detectors (the VM detector calls 169.254.169.254), no live metrics. Statsbeat and
 * SDK stats (calls to *.in.applicationinsights.azure.com and IMDS) are switched off by their environment
 * variables, offline storage (files under the temp dir, replayed later) is off, and every trace is sampled.
 */
import type * as Sdk from 'applicationinsights';
import type { TelemetryClient } from 'applicationinsights';
import type { Logger } from '../logger.js';
import type { AppInsightsOptions, Telemetry, TraceSeverity } from './app-insights.js';

/** Environment switches the exporter reads when it is constructed (names from the SDK's Constants). */
export const SDK_SWITCHES: Readonly<Record<string, string>> = {
  APPLICATION_INSIGHTS_NO_STATSBEAT: 'true',
  APPLICATIONINSIGHTS_STATSBEAT_DISABLED: 'true',
  APPLICATIONINSIGHTS_SDKSTATS_DISABLED: 'true',
  OTEL_TRACES_SAMPLER: 'always_on',
};

const SEVERITY: Record<TraceSeverity, string> = {
  verbose: 'Verbose',
  information: 'Information',
  warning: 'Warning',
  error: 'Error',
  critical: 'Critical',
};

type SdkModule = typeof Sdk;

/** Loads the SDK (CommonJS) through `import()`, whichever way the interop presents it. */
async function loadSdk(): Promise<SdkModule> {
  const loaded = (await import('applicationinsights')) as SdkModule & { default?: SdkModule };
  return typeof loaded.TelemetryClient === 'function' ? loaded : (loaded.default ?? loaded);
}

/** Creates the SDK-backed telemetry; the switches above are set in the environment before the SDK loads. */
export async function createSdkTelemetry(
  options: AppInsightsOptions,
  connectionString: string,
  logger: Logger,
): Promise<Telemetry> {
  // The exporter reads these only from process.env, when it is constructed; an explicit setting wins.
  for (const [name, value] of Object.entries(SDK_SWITCHES)) process.env[name] ??= value;
  const [sdk, { resourceFromAttributes }] = await Promise.all([loadSdk(), import('@opentelemetry/resources')]);
  const client: TelemetryClient = new sdk.TelemetryClient(connectionString, { useGlobalProviders: false });
  // ai.cloud.role / ai.cloud.roleInstance come from the resource (the isolated client never runs detectors).
  client.config.azureMonitorOpenTelemetryOptions = {
    resource: resourceFromAttributes({
      'service.name': options.roleName,
      'service.instance.id': options.roleInstance ?? options.roleName,
    }),
  };
  client.config.samplingPercentage = 100;
  client.config.enableUseDiskRetryCaching = false;
  client.config.enableAutoCollectConsole = false;
  client.config.enableAutoCollectExternalLoggers = false;
  client.config.enableAutoCollectPerformance = false;
  client.config.enableAutoCollectRequests = false;
  client.config.enableAutoCollectDependencies = false;
  client.config.enableAutoCollectExceptions = false;
  client.config.enableSendLiveMetrics = false;
  client.initialize();
  const counters = { sent: 0, dropped: 0, failures: 0 };
  let tracked = 0;
  let closed = false;

  const track = (send: () => void): void => {
    if (closed) {
      counters.dropped += 1;
      return;
    }
    try {
      send();
      tracked += 1;
    } catch (error) {
      counters.dropped += 1;
      logger.debug('Application Insights SDK refused an item', { error });
    }
  };

  const flush = async (): Promise<void> => {
    const pending = tracked;
    try {
      await client.flush();
      counters.sent += pending;
      tracked -= pending;
    } catch (error) {
      counters.failures += 1;
      logger.debug('Application Insights flush failed', { error });
    }
  };

  logger.info('Application Insights telemetry on (applicationinsights SDK)', {
    endpoint: client.config.endpointUrl,
  });

  return {
    name: 'app-insights',
    enabled: true,
    trackMetric(name, value, properties) {
      track(() => client.trackMetric({ name, value, ...(properties ? { properties: { ...properties } } : {}) }));
    },
    trackTrace(message, severity = 'information', properties) {
      track(() =>
        client.trackTrace({
          message,
          severity: SEVERITY[severity],
          ...(properties ? { properties: { ...properties } } : {}),
        }),
      );
    },
    trackEvent(name, properties, measurements) {
      track(() =>
        client.trackEvent({
          name,
          ...(properties ? { properties: { ...properties } } : {}),
          ...(measurements ? { measurements: { ...measurements } } : {}),
        }),
      );
    },
    trackException(error, properties) {
      const exception = error instanceof Error ? error : new Error(String(error));
      track(() => client.trackException({ exception, ...(properties ? { properties: { ...properties } } : {}) }));
    },
    flush,
    async close() {
      if (closed) return;
      closed = true;
      let timeout: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        (async () => {
          await flush();
          await client.shutdown();
          return false;
        })(),
        new Promise<boolean>((resolve) => {
          timeout = setTimeout(() => resolve(true), options.closeTimeoutMs ?? 4_000);
        }),
      ]);
      clearTimeout(timeout);
      if (timedOut) {
        counters.dropped += tracked;
        logger.warn('telemetry not sent before shutdown', { items: tracked });
      }
    },
    stats: () => ({ ...counters, queued: tracked }),
  };
}
