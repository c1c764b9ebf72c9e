import { z } from 'zod';
import { EdgeKitError } from './errors.js';

/** One thing wrong with a configuration, with where it is. */
export interface ConfigProblem {
  /** Dotted path, e.g. `settings.maxInstances` or `env.TAKT_HTTP_PORT`. */
  path: string;
  message: string;
}

export type DeepReadonly<T> = T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/** Freezes an object graph in place and returns it typed read-only. */
export function deepFreeze<T>(value: T): DeepReadonly<T> {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value as Record<string, unknown>)) deepFreeze(child);
  }
  return value as DeepReadonly<T>;
}

/** The zod issues as {@link ConfigProblem}s (every one, not only the first). */
export function configProblems(error: z.ZodError): ConfigProblem[] {
  return error.issues.map((issue) => ({
    path: issue.path.map(String).join('.') || '(root)',
    message: issue.message,
  }));
}

export type ConfigResult<T> = { ok: true; value: DeepReadonly<T> } | { ok: false; problems: ConfigProblem[] };

/** Validates and defaults `input` against `schema`; never throws. Use for twin updates. */
export function parseConfig<S extends z.ZodType>(schema: S, input: unknown): ConfigResult<z.output<S>> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) return { ok: false, problems: configProblems(parsed.error) };
  return { ok: true, value: deepFreeze(parsed.data) };
}

/**
 * Parses the configuration once, at the edge of the process (STYLE.md "Config"): validated,
 * defaulted, frozen. Throws CONFIG_INVALID listing every problem.
 *
 * @example
 * const Schema = z.object({ env: z.object({ TAKT_HTTP_PORT: z.coerce.number().int().default(8080) }) });
 * const config = resolveConfig(Schema, { env: process.env });
 */
export function resolveConfig<S extends z.ZodType>(schema: S, input: unknown): DeepReadonly<z.output<S>> {
  const result = parseConfig(schema, input);
  if (result.ok) return result.value;
  throw new EdgeKitError(
    'CONFIG_INVALID',
    `configuration is invalid: ${result.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`,
    { details: { problems: result.problems } },
  );
}

/** An environment flag: `true`/`false`/`1`/`0`/`yes`/`no` (case-insensitive). */
export function envBoolean() {
  return z
    .string()
    .trim()
    .toLowerCase()
    .refine((v) => ['true', 'false', '1', '0', 'yes', 'no'].includes(v), { message: 'expected true or false' })
    .transform((v) => v === 'true' || v === '1' || v === 'yes');
}
