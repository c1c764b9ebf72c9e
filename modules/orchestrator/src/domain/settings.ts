/** The `settings` and `recipes` desired properties: schemas (zod) and their resolved shapes. */
import { z } from 'zod';

const identifier = z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]{0,63}$/, 'an identifier [A-Za-z_][A-Za-z0-9_-]*');

export const settingsSchema = z
  .object({
    site: z.string().max(128).optional(),
    line: z.string().max(128).optional(),
    unit: z.string().max(128).optional(),
    /** Module id of the OPC UA connector. */
    connectorModuleId: z.string().min(1).max(64).default('opcua-connector'),
    /** Endpoint used when an action or tag names none. */
    defaultEndpointUrl: z.string().max(512).optional(),
    /** Tag names used in workflows → OPC UA nodes (a list: tag names may contain `.`, twin keys may not). */
    tags: z
      .array(
        z
          .object({
            name: z.string().min(1).max(128),
            nodeId: z.string().min(1).max(512),
            endpointUrl: z.string().max(512).optional(),
            samplingIntervalMs: z.number().int().min(0).max(3_600_000).optional(),
            /** How often the connector's watch subscription publishes (default: the connector's, 50 ms). */
            publishingIntervalMs: z.number().int().min(1).max(3_600_000).optional(),
          })
          .strict(),
      )
      .max(500)
      .default([]),
    /** Variables copied into the `variables` summary of status events (default: none). */
    statusVariables: z.array(z.string().max(64)).max(20).default([]),
    /** Per-endpoint circuit breaker towards the connector. */
    breaker: z
      .object({
        failureThreshold: z.number().int().min(1).max(100).default(5),
        openMs: z.number().int().min(100).max(600_000).default(10_000),
      })
      .strict()
      .default({ failureThreshold: 5, openMs: 10_000 }),
    /** `invoke` handlers: `args.handler` → a direct method of another module. */
    handlers: z
      .array(
        z.object({ name: identifier, moduleId: z.string().min(1).max(64), method: z.string().min(1).max(64) }).strict(),
      )
      .max(100)
      .default([]),
    /** Timeout of one connector call. */
    deviceTimeoutS: z.number().int().min(1).max(300).default(30),
  })
  .strict();

export type ResolvedSettings = z.output<typeof settingsSchema>;

export const defaultSettings: ResolvedSettings = settingsSchema.parse({});

export const recipeSchema = z
  .object({
    workflowId: identifier.optional(),
    version: z.string().max(64).optional(),
    description: z.string().max(1024).optional(),
    parameters: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

export type Recipe = z.output<typeof recipeSchema>;

/** Compact `path: message` lines for an ack's `ad`. */
export function zodProblems(error: z.ZodError): string[] {
  return error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
}
