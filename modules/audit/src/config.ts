import { join } from 'node:path';
import { z } from 'zod';

/** Environment of the module (parsed once in main.ts). */
export const EnvSchema = z.object({
  TAKT_DATA_DIR: z.string().min(1).default('/app/data'),
  /** Secret; at least 32 bytes. Never logged. */
  TAKT_AUDIT_MAC_KEY: z
    .string()
    .optional()
    .refine((v) => v === undefined || v === '' || Buffer.byteLength(v) >= 32, {
      message: 'must be at least 32 bytes (or unset)',
    }),
  TAKT_METRICS_PORT: z.coerce.number().int().min(0).max(65_535).default(9600),
  /** Bind address of the metrics endpoint (0.0.0.0 in the container so the metrics collector can scrape it). */
  TAKT_METRICS_HOST: z.string().min(1).default('0.0.0.0'),
  RuntimeLogLevel: z.string().optional(),
});

/** Twin desired `settings` of the audit module. */
export const SettingsSchema = z
  .object({
    /** Keep records on the device this long after they were recorded (and forwarded). Default 365. */
    retentionDays: z.number().positive().max(36_500).default(365),
    /** How often pruning runs. Default 3,600 s. */
    pruneIntervalS: z.number().int().min(10).max(86_400).default(3_600),
    /** Most records deleted per prune transaction. Default 10,000. */
    pruneBatchSize: z.number().int().min(1).max(100_000).default(10_000),
  })
  .strict();

export type Settings = z.output<typeof SettingsSchema>;

export interface ResolvedAuditConfig {
  databaseFile: string;
  macKey: Buffer | undefined;
  metricsPort: number;
  metricsHost: string;
}

/** The resolved environment: file paths and the key as bytes. */
export function resolveEnv(env: z.output<typeof EnvSchema>): ResolvedAuditConfig {
  const key = env.TAKT_AUDIT_MAC_KEY;
  return {
    databaseFile: join(env.TAKT_DATA_DIR, 'audit.db'),
    macKey: key === undefined || key === '' ? undefined : Buffer.from(key, 'utf8'),
    metricsPort: env.TAKT_METRICS_PORT,
    metricsHost: env.TAKT_METRICS_HOST,
  };
}
