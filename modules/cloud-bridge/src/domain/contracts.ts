import { z } from 'zod';

/** Event types the orchestrator emits on its `status` output. */
export const statusEventTypes = [
  'instance.started',
  'instance.state',
  'step.started',
  'step.completed',
  'step.failed',
  'instance.completed',
  'instance.failed',
  'alert',
] as const;

export type StatusEventType = (typeof statusEventTypes)[number];

const id = z.string().min(1).max(128);

/** Longest error message carried on (longer ones are cut, ending with `…`, rather than refused). */
export const MAX_ERROR_MESSAGE = 1024;

/**
 * Why a step or an instance failed, or what an alert is about (`step.failed`, `instance.failed`, aborts,
 * `alert`): the coded error of the orchestrator (`code`, e.g. `DEVICE_TIMEOUT`, and its message). Other
 * members the orchestrator may add later are dropped, not refused, so a richer error never loses a
 * failed run downstream.
 */
export const StatusErrorSchema = z.object({
  code: z.string().min(1).max(128),
  message: z.string().transform((m) => (m.length <= MAX_ERROR_MESSAGE ? m : `${m.slice(0, MAX_ERROR_MESSAGE - 1)}…`)),
});

export type StatusError = z.infer<typeof StatusErrorSchema>;

/**
 * A summary variable: a scalar, or a small JSON value (the orchestrator sends a value whose JSON text
 * is at most 256 characters as is, and a longer one as a cut string).
 */
const variableValue = z
  .json()
  .refine(
    (v) => v === null || typeof v !== 'object' || JSON.stringify(v).length <= 256,
    'at most 256 characters of JSON per variable',
  )
  .refine((v) => typeof v !== 'string' || v.length <= 256, 'at most 256 characters per variable');

/**
 * The status event contract (orchestrator output `status` → cloud-bridge input `status`). The message id
 * of the edge message should be `eventId`; `seq` rises by one per event of an instance.
 *
 * @example
 * { "eventId": "run-7:12", "type": "step.completed", "instanceId": "run-7", "workflowId": "mix-batch",
 *   "workflowVersion": "3f2a…", "state": "running", "step": "dose", "at": "2026-11-25T10:00:00.000Z",
 *   "site": "plant-1", "line": "line-2", "unit": "mixer-1", "seq": 12, "variables": { "batch": "B-42" } }
 *
 * A failed step (also `instance.failed`, an abort, an `alert`) carries `error`:
 * { …, "type": "step.failed", "state": "failed", "step": "dose",
 *   "error": { "code": "DEVICE_TIMEOUT", "message": "write of Reactor.TemperatureSetpoint timed out" }, "seq": 13 }
 */
export const StatusEventSchema = z
  .object({
    eventId: id,
    type: z.enum(statusEventTypes),
    instanceId: id,
    workflowId: id,
    workflowVersion: z.string().min(1).max(128),
    state: z.string().min(1).max(64),
    step: z.string().min(1).max(128).optional(),
    at: z.iso.datetime({ offset: true }),
    site: id.optional(),
    line: id.optional(),
    unit: id.optional(),
    severity: z.enum(['info', 'warning', 'error', 'critical']).optional(),
    variables: z
      .record(z.string(), variableValue)
      .refine((v) => Object.keys(v).length <= 32, 'at most 32 variables (a small summary)')
      .optional(),
    error: StatusErrorSchema.optional(),
    seq: z.number().int().min(1),
  })
  .strict();

export type StatusEvent = z.infer<typeof StatusEventSchema>;

/**
 * The production order contract: the body of a message on the orders queue, and what cloud-bridge hands
 * to the orchestrator's `orders` input (message id = `orderId`).
 */
export const OrderSchema = z
  .object({
    orderId: id,
    workflowId: id,
    recipe: z.string().min(1).max(128).optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
    priority: z.number().int().min(0).max(9).optional(),
    dueAt: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();

export type Order = z.infer<typeof OrderSchema>;

/** Lifecycle events that also go to Event Grid. */
export const lifecycleTypes: ReadonlySet<StatusEventType> = new Set([
  'instance.started',
  'instance.completed',
  'instance.failed',
  'step.failed',
  'alert',
]);
