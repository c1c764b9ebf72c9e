import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { envBoolean } from '@takt/edge-kit';

const ms = (fallback: number) => z.coerce.number().int().min(0).default(fallback);
const flag = (fallback: boolean) =>
  envBoolean()
    .optional()
    .transform((v) => v ?? fallback);
const optionalText = z
  .string()
  .trim()
  .optional()
  .transform((v) => (v === '' ? undefined : v));

/** The repository's DTDL models, from src/ and from dist/ alike (both sit two folders below the module). */
export const defaultDtdlDir = fileURLToPath(new URL('../../../deployment/dtdl/', import.meta.url));

/** Environment of cloud-bridge (secrets are read here and never logged). */
export const EnvSchema = z.object({
  TAKT_DATA_DIR: z.string().min(1).default('/app/data'),
  TAKT_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9600),
  TAKT_METRICS_HOST: z.string().min(1).default('0.0.0.0'),
  TAKT_DT_URL: optionalText.pipe(z.url().optional()),
  TAKT_DT_ENABLED: flag(true),
  TAKT_DT_MIN_WRITE_INTERVAL_MS: ms(125),
  TAKT_DTDL_DIR: z.string().min(1).default(defaultDtdlDir),
  TAKT_SB_CONNECTION_STRING: optionalText,
  TAKT_SB_NAMESPACE: optionalText,
  TAKT_SB_STATUS_TOPIC: z.string().min(1).default('takt-status'),
  TAKT_SB_ORDERS_QUEUE: z.string().min(1).default('takt-orders'),
  TAKT_SB_ENABLED: flag(true),
  TAKT_ORDERS_ENABLED: flag(true),
  TAKT_EG_ENDPOINT: optionalText.pipe(z.url().optional()),
  TAKT_EG_KEY: optionalText,
  TAKT_EG_ENABLED: flag(true),
  TAKT_SDK_MAX_RETRIES: z.coerce.number().int().min(0).max(10).default(3),
  TAKT_SDK_RETRY_DELAY_MS: ms(1_000),
  TAKT_SDK_TIMEOUT_MS: ms(30_000),
  TAKT_SINK_BATCH_SIZE: z.coerce.number().int().min(1).max(500).default(100),
  TAKT_RETRY_INITIAL_MS: ms(500),
  TAKT_RETRY_MAX_MS: ms(30_000),
  TAKT_BREAKER_FAILURES: z.coerce.number().int().min(1).default(5),
  TAKT_BREAKER_OPEN_MS: ms(15_000),
  TAKT_HEALTH_INTERVAL_MS: ms(10_000),
});

export type Env = z.output<typeof EnvSchema>;

export function databaseFile(env: Pick<Env, 'TAKT_DATA_DIR'>): string {
  return join(env.TAKT_DATA_DIR, 'cloud-bridge.db');
}

/** Desired property `sinks`: switches a configured sink off (or back on) at run time. */
export const SinksSwitchSchema = z
  .object({
    digitalTwins: z.boolean().optional(),
    serviceBus: z.boolean().optional(),
    eventGrid: z.boolean().optional(),
    orders: z.boolean().optional(),
  })
  .strict();

export type SinksSwitch = z.infer<typeof SinksSwitchSchema>;
