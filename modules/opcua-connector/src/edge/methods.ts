/**
 * Direct methods: OPC Publisher's `*_V1` API and the orchestrator's commands, with zod payload
 * schemas (documented in the README). Bad payloads answer 400 METHOD_PAYLOAD_INVALID (edge-kit);
 * connector errors answer `{code, message, retryable}` with 400 (not retryable) or 503 (retryable).
 */
import { type MethodDefinition, defineMethod } from '@takt/edge-kit';
import { z } from 'zod';
import { PublishedNodesEntrySchema } from '../config/published-nodes.js';
import type { OpcuaConnector } from '../connector.js';

const endpointUrl = z.string().regex(/^opc\.tcp:\/\/\S+$/, { message: 'expected opc.tcp://host:port' });
const nodeId = z.string().min(1).max(4096);
/** Optional on commands: without it the only configured endpoint is used. */
const commandEndpoint = endpointUrl.optional();

export const ReadPayload = z
  .object({
    endpointUrl: commandEndpoint,
    nodeId: nodeId.optional(),
    nodeIds: z.array(nodeId).min(1).max(1_000).optional(),
  })
  .strict()
  .refine((p) => (p.nodeId === undefined) !== (p.nodeIds === undefined), { message: 'give nodeId or nodeIds' });

export const WritePayload = z
  .object({
    endpointUrl: commandEndpoint,
    nodeId,
    value: z.unknown().refine((v) => v !== undefined && v !== null, { message: 'value is required' }),
    /** Read the value back after writing and compare. Default true. */
    verify: z.boolean().default(true),
    /** Optional guard: the built-in type the caller expects (`Double`, `Int32` …); a different node type is OPCUA_TYPE_MISMATCH. */
    dataType: z.string().max(32).optional(),
    correlationId: z.string().max(256).optional(),
    /** Who asked (for the audit record); the SDK does not tell the callee who called. */
    actor: z.string().max(256).optional(),
  })
  .strict();

export const CallPayload = z
  .object({
    endpointUrl: commandEndpoint,
    objectId: nodeId,
    methodId: nodeId,
    inputArguments: z.array(z.unknown()).max(100).default([]),
  })
  .strict();

export const BrowsePayload = z
  .object({
    endpointUrl: commandEndpoint,
    nodeId: nodeId.default('i=85'),
    direction: z.enum(['Forward', 'Inverse', 'Both']).default('Forward'),
    maxReferences: z.number().int().min(1).max(10_000).default(1_000),
  })
  .strict();

export const WatchPayload = z
  .object({
    endpointUrl: commandEndpoint,
    nodeId,
    watchId: z
      .string()
      .regex(/^[A-Za-z0-9._:-]{1,128}$/)
      .optional(),
    samplingIntervalMs: z.number().int().min(0).max(86_400_000).default(0),
    publishingIntervalMs: z.number().int().min(1).max(86_400_000).default(50),
    queueSize: z.number().int().min(1).max(60_000).default(10),
    deadband: z
      .object({ type: z.enum(['Absolute', 'Percent']), value: z.number().min(0) })
      .strict()
      .optional(),
  })
  .strict();

export const UnwatchPayload = z.object({ watchId: z.string().min(1).max(128), endpointUrl: commandEndpoint }).strict();

const EndpointFilter = z.looseObject({
  EndpointUrl: endpointUrl.optional(),
  DataSetWriterGroup: z.string().optional(),
  DataSetWriterId: z.string().optional(),
});

export function connectorMethods(connector: OpcuaConnector): Record<string, MethodDefinition> {
  return {
    PublishNodes_V1: defineMethod({
      schema: PublishedNodesEntrySchema.refine((e) => (e.OpcNodes?.length ?? 0) > 0, {
        message: 'OpcNodes must list at least one node',
      }),
      handler: (entry) => connector.publishNodes(entry),
    }),
    UnpublishNodes_V1: defineMethod({
      schema: PublishedNodesEntrySchema,
      handler: (entry) => connector.unpublishNodes(entry),
    }),
    UnpublishAllNodes_V1: defineMethod({ schema: EndpointFilter, handler: (r) => connector.unpublishAllNodes(r) }),
    GetConfiguredEndpoints_V1: defineMethod({ handler: () => connector.getConfiguredEndpoints() }),
    GetConfiguredNodesOnEndpoint_V1: defineMethod({
      schema: EndpointFilter.refine((r) => r.EndpointUrl !== undefined, { message: 'EndpointUrl is required' }),
      handler: (r) => connector.getConfiguredNodesOnEndpoint(r),
    }),
    GetDiagnosticInfo_V1: defineMethod({ handler: () => connector.getDiagnosticInfo() }),
    read: defineMethod({
      schema: ReadPayload,
      handler: (p, { signal }) => connector.read(p.endpointUrl, p.nodeIds ?? [p.nodeId as string], signal),
    }),
    write: defineMethod({
      schema: WritePayload,
      handler: (p, { signal }) =>
        connector.write(
          {
            endpointUrl: p.endpointUrl,
            nodeId: p.nodeId,
            value: p.value,
            verify: p.verify,
            dataType: p.dataType,
            correlationId: p.correlationId,
            actor: p.actor,
          },
          signal,
        ),
    }),
    call: defineMethod({ schema: CallPayload, handler: (p, { signal }) => connector.call(p, signal) }),
    browse: defineMethod({ schema: BrowsePayload, handler: (p, { signal }) => connector.browse(p, signal) }),
    watch: defineMethod({ schema: WatchPayload, handler: (p) => connector.watch(p) }),
    unwatch: defineMethod({ schema: UnwatchPayload, handler: (p) => connector.unwatch(p.watchId) }),
  };
}
