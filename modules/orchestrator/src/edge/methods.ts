/**
 * The direct methods (zod-validated payloads; a bad payload is answered 400 METHOD_PAYLOAD_INVALID
 * with every problem, a coded failure with its code; README "Direct methods" documents them).
 * Direct methods come from IoT Hub (the service) or another module: the caller is recorded as
 * `actor` (default `iothub`); approvals additionally re-authenticate a local user.
 */
import { type MethodDefinition, defineMethod } from '@takt/edge-kit';
import type { SimulationOptions } from '@takt/engine';
import type { JsonObject } from '@takt/workflow';
import { z } from 'zod';
import type { Actor, Orchestrator } from '../app/orchestrator.js';

const id = z.string().min(1).max(128);
const actorField = z.string().min(1).max(128).optional();
const json = z.record(z.string(), z.unknown());

export const startSchema = z
  .object({
    workflowId: id,
    version: z.string().max(64).optional(),
    parameters: json.optional(),
    recipe: id.optional(),
    idempotencyKey: z.string().min(1).max(256).optional(),
    correlationId: z.string().min(1).max(256).optional(),
    actor: actorField,
  })
  .strict();

const verbSchema = z.object({ instanceId: id, reason: z.string().max(1024).optional(), actor: actorField }).strict();

export const decisionSchema = z
  .object({
    instanceId: id,
    taskId: id.optional(),
    user: z.string().min(1).max(128),
    password: z.string().min(1).max(256),
    meaning: z.string().min(1).max(256).optional(),
    reason: z.string().max(1024).optional(),
    comment: z.string().max(2048).optional(),
  })
  .strict();

const simResponse = z
  .object({
    value: z.json().optional(),
    error: z.object({ code: z.string(), message: z.string(), retryable: z.boolean() }).strict().optional(),
    delayMs: z.number().int().min(0).optional(),
    hang: z.boolean().optional(),
  })
  .strict();

export const simulateSchema = z
  .object({
    definition: z.unknown(),
    params: json.optional(),
    tags: json.optional(),
    /** By step id, action kind or `*`: one scripted answer, or one per attempt. */
    responses: z.record(z.string(), z.union([simResponse, z.array(simResponse).max(100)])).optional(),
    /** Approval steps by id, decided automatically. */
    approvals: z
      .record(
        z.string(),
        z
          .object({
            decision: z.enum(['approve', 'reject']),
            afterMs: z.number().int().min(0).optional(),
            user: z.string().optional(),
            role: z.string().optional(),
          })
          .strict(),
      )
      .optional(),
    maxVirtualMs: z
      .number()
      .int()
      .positive()
      .max(365 * 24 * 3600_000)
      .optional(),
  })
  .strict();

/** Simulation options from a validated `simulateWorkflow` payload. */
export function simulationOptions(p: z.output<typeof simulateSchema>): SimulationOptions {
  // A JSON round trip drops the `undefined` members zod leaves on optional keys; the shapes were validated above.
  const plain = JSON.parse(
    JSON.stringify({
      params: p.params,
      tags: p.tags,
      responses: p.responses,
      approvals: p.approvals,
      maxVirtualMs: p.maxVirtualMs,
    }),
  ) as SimulationOptions;
  return plain;
}

function actorOf(name: string | undefined): Actor {
  return { type: 'module', id: name ?? 'iothub' };
}

export function orchestratorMethods(orchestrator: Orchestrator): Record<string, MethodDefinition> {
  const verb = (name: 'hold' | 'restart' | 'stop' | 'abort' | 'cancel'): MethodDefinition =>
    defineMethod({
      schema: verbSchema,
      handler: (p) => orchestrator.control(name, p.instanceId, actorOf(p.actor), p.reason),
    });
  const start = defineMethod({
    schema: startSchema,
    handler: (p) =>
      orchestrator.startWorkflow(
        {
          workflowId: p.workflowId,
          ...(p.version === undefined ? {} : { version: p.version }),
          ...(p.parameters === undefined ? {} : { parameters: p.parameters as JsonObject }),
          ...(p.recipe === undefined ? {} : { recipe: p.recipe }),
          ...(p.idempotencyKey === undefined ? {} : { idempotencyKey: p.idempotencyKey }),
          ...(p.correlationId === undefined ? {} : { correlationId: p.correlationId }),
        },
        actorOf(p.actor),
      ),
  });
  const decision = (kind: 'approve' | 'reject'): MethodDefinition =>
    defineMethod({
      schema: decisionSchema,
      handler: (p) =>
        orchestrator.decide(kind, {
          instanceId: p.instanceId,
          user: p.user,
          password: p.password,
          ...(p.taskId === undefined ? {} : { taskId: p.taskId }),
          ...(p.meaning === undefined ? {} : { meaning: p.meaning }),
          ...(p.reason === undefined ? {} : { reason: p.reason }),
          ...(p.comment === undefined ? {} : { comment: p.comment }),
        }),
    });
  return {
    startWorkflow: start,
    start,
    signal: defineMethod({
      schema: z.object({ instanceId: id, name: id, payload: z.unknown().optional(), actor: actorField }).strict(),
      handler: async (p) => {
        await orchestrator.signal(p.instanceId, p.name, p.payload as JsonObject | undefined, actorOf(p.actor));
        return { instanceId: p.instanceId, delivered: true };
      },
    }),
    approve: decision('approve'),
    reject: decision('reject'),
    hold: verb('hold'),
    restart: verb('restart'),
    stop: verb('stop'),
    abort: verb('abort'),
    cancel: verb('cancel'),
    getInstance: defineMethod({
      schema: z.object({ instanceId: id, history: z.boolean().default(false) }).strict(),
      handler: (p) => orchestrator.getInstance(p.instanceId, p.history),
    }),
    listInstances: defineMethod({
      schema: z
        .object({
          status: z.string().max(32).optional(),
          workflowId: id.optional(),
          limit: z.number().int().min(1).max(500).default(50),
          offset: z.number().int().min(0).default(0),
        })
        .strict(),
      handler: (p) =>
        orchestrator.listInstances({
          limit: p.limit,
          offset: p.offset,
          ...(p.status === undefined ? {} : { status: p.status }),
          ...(p.workflowId === undefined ? {} : { workflowId: p.workflowId }),
        }),
    }),
    listTasks: defineMethod({
      schema: z.object({ instanceId: id.optional() }).strict(),
      handler: (p) => ({ items: orchestrator.listTasks(p.instanceId) }),
    }),
    validateWorkflow: defineMethod({
      schema: z.object({ definition: z.unknown() }).strict(),
      handler: (p) => orchestrator.validate(p.definition),
    }),
    simulateWorkflow: defineMethod({
      schema: simulateSchema,
      handler: (p) => orchestrator.simulate(p.definition, simulationOptions(p)),
    }),
    resolveInDoubt: defineMethod({
      schema: z
        .object({
          instanceId: id,
          taskId: id,
          outcome: z.enum(['succeeded', 'retry', 'failed']),
          reason: z.string().max(1024).optional(),
          actor: actorField,
        })
        .strict(),
      handler: (p) => orchestrator.resolveInDoubt(p.instanceId, p.taskId, p.outcome, actorOf(p.actor), p.reason),
    }),
    emergencyStop: defineMethod({
      schema: z.object({ reason: z.string().min(1).max(1024), actor: actorField }).strict(),
      handler: (p) => orchestrator.emergencyStop(actorOf(p.actor), p.reason),
    }),
    reset: defineMethod({
      schema: z.object({ reason: z.string().max(1024).optional(), actor: actorField }).strict(),
      handler: (p) => orchestrator.reset(actorOf(p.actor), p.reason),
    }),
  };
}
