import { z } from 'zod';

/** Largest canonical record accepted (the forwarded message must stay well under edgeHub's 256 KB). */
export const MAX_RECORD_BYTES = 64 * 1024;

const id = (max: number) => z.string().trim().min(1).max(max);
const isoTime = z.iso.datetime({ offset: true });

/** A JSON value (what before/after/details may hold). */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
const jsonValue: z.ZodType<JsonValue> = z.json();

/**
 * One audit record as senders submit it (the orchestrator, the connector, any module through the
 * `records` input or the `record` method). Unknown fields are refused rather than dropped: what is
 * chained must be exactly what was sent.
 */
export const AuditRecordSchema = z
  .object({
    /** Module that produced the record, e.g. `orchestrator`. Together with `sourceMessageId` it is the de-duplication key. */
    sourceModule: id(128),
    /** The producer's stable id for this record; a resend with the same id is ignored. */
    sourceMessageId: id(256),
    /** When it happened, at the source (RFC 3339 with offset). */
    timestamp: isoTime,
    /** Who did it: a person (`user`) or a module acting on its own (`module`). */
    actor: z.object({ type: z.enum(['user', 'module']), id: id(256), name: z.string().max(256).optional() }).strict(),
    /** What was done, dotted, e.g. `instance.started`, `device.write`, `signature.applied`, `deviation.recorded`. */
    action: z
      .string()
      .regex(/^[a-zA-Z][a-zA-Z0-9_-]*(\.[a-zA-Z0-9_-]+)*$/, 'dotted words, e.g. device.write')
      .max(128),
    /** What it was done to. */
    target: z.object({ type: id(64), id: id(512), name: z.string().max(256).optional() }).strict(),
    before: jsonValue.optional(),
    after: jsonValue.optional(),
    /** Why (21 CFR 11.10(e): the reason for a change). */
    reason: z.string().max(4096).optional(),
    /** Electronic signature (21 CFR 11.50: printed name of the signer, date and time, meaning). */
    signature: z
      .object({
        signer: id(256),
        signerName: z.string().max(256).optional(),
        meaning: id(256),
        time: isoTime,
        /** How the signer was authenticated, e.g. `password`, `badge+pin`. */
        method: z.string().max(64).optional(),
      })
      .strict()
      .optional(),
    correlation: z
      .object({
        instanceId: id(256).optional(),
        batchId: id(256).optional(),
        workflowId: id(256).optional(),
        workflowVersion: id(256).optional(),
        stepId: id(256).optional(),
      })
      .strict()
      .optional(),
    /** Anything else worth keeping (recipe parameters, alert severity, …). */
    details: z.record(z.string(), jsonValue).optional(),
  })
  .strict();

/** A validated audit record. */
export type AuditRecord = z.output<typeof AuditRecordSchema>;
/** What a sender may submit (before trimming/validation). */
export type AuditRecordInput = z.input<typeof AuditRecordSchema>;

/** The record with absent optional members removed, so canonical forms are stable. */
export function normalizeRecord(record: AuditRecord): AuditRecord {
  return JSON.parse(JSON.stringify(record)) as AuditRecord;
}
