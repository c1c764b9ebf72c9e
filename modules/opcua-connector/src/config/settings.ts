/**
 * Module settings: the twin's `settings` desired property and the environment (parsed once, frozen).
 */
import { envBoolean } from '@takt/edge-kit';
import { z } from 'zod';
import { PublishedNodesEntrySchema } from './published-nodes.js';

export const SettingsSchema = z
  .object({
    /** `pubsub` (OPC 10000-14 JSON network messages) or `samples` (legacy OPC Publisher form). */
    messageEncoding: z.enum(['pubsub', 'samples']).default('pubsub'),
    /** Value changes per telemetry message (OPC Publisher `BatchSize`). */
    batchSize: z.number().int().min(1).max(50_000).default(500),
    /** Longest a value change waits for its batch (OPC Publisher `BatchTriggerInterval`); 0 = send at once. */
    batchIntervalMs: z.number().int().min(0).max(60_000).default(500),
    /** Largest telemetry message; edgeHub's limit is 256 KB. */
    maxMessageBytes: z.number().int().min(4_096).max(262_144).default(250_000),
    /** Telemetry messages waiting for edgeHub before new batches are dropped (and counted). */
    maxQueuedMessages: z.number().int().min(1).max(1_000_000).default(4_096),
    publisherId: z.string().min(1).max(256).optional(),
    autoAcceptUntrustedCertificates: z.boolean().default(false),
    defaultSamplingIntervalMs: z.number().int().min(0).max(86_400_000).default(1_000),
    defaultPublishingIntervalMs: z.number().int().min(0).max(86_400_000).default(1_000),
    defaultQueueSize: z.number().int().min(0).max(60_000).default(1),
    commandTimeoutMs: z.number().int().min(100).max(300_000).default(10_000),
    commandWaitMs: z.number().int().min(0).max(60_000).default(3_000),
    reconnectInitialDelayMs: z.number().int().min(10).max(60_000).default(500),
    reconnectMaxDelayMs: z.number().int().min(100).max(600_000).default(30_000),
    keepAliveIntervalMs: z.number().int().min(500).max(600_000).default(5_000),
    healthReportIntervalMs: z.number().int().min(1_000).max(3_600_000).default(10_000),
    breakerFailureThreshold: z.number().int().min(1).max(1_000).default(5),
    breakerOpenMs: z.number().int().min(100).max(600_000).default(5_000),
  })
  .strict();

export type Settings = z.output<typeof SettingsSchema>;

export const DEFAULT_SETTINGS: Settings = SettingsSchema.parse({});

/** A command-only endpoint (twin `endpoints.<name>`): an OPC Publisher entry without nodes. */
export const CommandEndpointSchema = PublishedNodesEntrySchema.omit({ OpcNodes: true });

export const EnvSchema = z.object({
  TAKT_DATA_DIR: z.string().min(1).default('/app/data'),
  RuntimeLogLevel: z.string().optional(),
  /** OPC Publisher-compatible file; default `<TAKT_DATA_DIR>/publishednodes.json`. */
  OPCUA_PUBLISHED_NODES_FILE: z.string().min(1).optional(),
  OPCUA_APPLICATION_NAME: z.string().min(1).max(64).default('takt-opcua-connector'),
  OPCUA_AUTO_ACCEPT_UNTRUSTED_CERTIFICATES: envBoolean().optional(),
  TAKT_METRICS_PORT: z.coerce.number().int().min(0).max(65_535).default(9600),
  IOTEDGE_DEVICEID: z.string().optional(),
  IOTEDGE_MODULEID: z.string().optional(),
});

export type ConnectorEnv = z.output<typeof EnvSchema>;
