/** Module configuration from the environment, parsed once at the edge of the process. */
import { type DeepReadonly, resolveConfig } from '@takt/edge-kit';
import { z } from 'zod';

const port = z.coerce.number().int().min(0).max(65_535);

export const envSchema = z.object({
  TAKT_DATA_DIR: z.string().min(1).default('/app/data'),
  TAKT_HTTP_PORT: port.optional(),
  /** The manifest's older name for the console port. */
  TAKT_CONSOLE_PORT: port.optional(),
  TAKT_HTTP_HOST: z.string().min(1).default('127.0.0.1'),
  TAKT_METRICS_PORT: port.default(9600),
  TAKT_METRICS_HOST: z.string().min(1).optional(),
  TAKT_ADMIN_USER: z.string().min(1).max(64).optional(),
  TAKT_ADMIN_PASSWORD: z.string().min(8).max(256).optional(),
  IOTEDGE_DEVICEID: z.string().min(1).optional(),
  EdgeHubConnectionString: z.string().optional(),
  APPLICATIONINSIGHTS_CONNECTION_STRING: z.string().optional(),
  RuntimeLogLevel: z.string().optional(),
});

export interface ResolvedOrchestratorConfig {
  dataDir: string;
  httpPort: number;
  httpHost: string;
  metricsPort: number;
  metricsHost: string;
  adminUser: string | undefined;
  adminPassword: string | undefined;
  deviceId: string | undefined;
  appInsightsConnectionString: string | undefined;
}

/** Reads the environment; throws CONFIG_INVALID with every problem. */
export function resolveOrchestratorConfig(
  env: Readonly<Record<string, string | undefined>>,
): DeepReadonly<ResolvedOrchestratorConfig> {
  const parsed = resolveConfig(envSchema, env);
  const fromConnectionString = /(?:^|;)DeviceId=([^;]+)/.exec(parsed.EdgeHubConnectionString ?? '')?.[1];
  return Object.freeze({
    dataDir: parsed.TAKT_DATA_DIR,
    httpPort: parsed.TAKT_HTTP_PORT ?? parsed.TAKT_CONSOLE_PORT ?? 8080,
    httpHost: parsed.TAKT_HTTP_HOST,
    metricsPort: parsed.TAKT_METRICS_PORT,
    metricsHost: parsed.TAKT_METRICS_HOST ?? parsed.TAKT_HTTP_HOST,
    adminUser: parsed.TAKT_ADMIN_USER,
    adminPassword: parsed.TAKT_ADMIN_PASSWORD,
    deviceId: parsed.IOTEDGE_DEVICEID ?? fromConnectionString,
    appInsightsConnectionString: parsed.APPLICATIONINSIGHTS_CONNECTION_STRING,
  });
}
