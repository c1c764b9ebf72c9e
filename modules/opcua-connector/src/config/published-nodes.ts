/**
 * The OPC Publisher published-nodes configuration (Azure Industrial-IoT 2.9 `publishednodes.json`)
 * and its translation into the connector's internal model (pure). Honoured fields are listed in the
 * README; unknown fields are accepted and ignored, so a real OPC Publisher file loads unchanged.
 */
import { z } from 'zod';

/** `hh:mm:ss(.fff)` or `d.hh:mm:ss` (OPC Publisher's `...Timespan` fields) → ms. */
export function parseTimespanMs(text: string): number | undefined {
  const match = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?$/.exec(text.trim());
  if (!match) return undefined;
  const [, days, hours, minutes, seconds, fraction] = match;
  const ms =
    (Number(days ?? 0) * 86_400 + Number(hours) * 3_600 + Number(minutes) * 60 + Number(seconds)) * 1000 +
    Math.round(Number(`0.${fraction ?? '0'}`) * 1000);
  return ms;
}

const timespan = z.string().refine((v) => parseTimespanMs(v) !== undefined, {
  message: 'expected a timespan hh:mm:ss(.fff)',
});
const intervalMs = z.number().int().min(0).max(86_400_000);

export const PublishedNodeSchema = z.looseObject({
  Id: z.string().min(1).max(4096),
  DisplayName: z.string().max(1024).optional(),
  DataSetFieldId: z.string().max(1024).optional(),
  OpcSamplingInterval: intervalMs.optional(),
  OpcSamplingIntervalTimespan: timespan.optional(),
  OpcPublishingInterval: intervalMs.optional(),
  OpcPublishingIntervalTimespan: timespan.optional(),
  HeartbeatInterval: z.number().int().min(0).max(86_400).optional(),
  HeartbeatIntervalTimespan: timespan.optional(),
  QueueSize: z.number().int().min(0).max(60_000).optional(),
  DiscardNew: z.boolean().optional(),
  DataChangeTrigger: z.enum(['Status', 'StatusValue', 'StatusValueTimestamp']).optional(),
  DeadbandType: z.enum(['Absolute', 'Percent']).optional(),
  DeadbandValue: z.number().min(0).optional(),
});

export const SECURITY_MODES = ['None', 'Sign', 'SignAndEncrypt', 'Best', 'SignOrEncrypt'] as const;

export const PublishedNodesEntrySchema = z.looseObject({
  EndpointUrl: z
    .string()
    .max(2048)
    .regex(/^opc\.tcp:\/\/[^\s/]+/, { message: 'expected opc.tcp://host:port[/path]' }),
  UseSecurity: z.boolean().optional(),
  EndpointSecurityMode: z.enum(SECURITY_MODES).optional(),
  EndpointSecurityPolicy: z.string().max(256).optional(),
  OpcAuthenticationMode: z.enum(['Anonymous', 'UsernamePassword']).optional(),
  OpcAuthenticationUsername: z.string().max(256).optional(),
  /** Inline password (OPC Publisher compatibility; refused in the twin). */
  OpcAuthenticationPassword: z.string().max(1024).optional(),
  /** Takt extension: the password comes from the environment variable `OPCUA_SECRET_<name>`. */
  OpcAuthenticationPasswordSecret: z
    .string()
    .regex(/^[A-Za-z0-9_]{1,64}$/, { message: 'expected a secret name of letters, digits and _' })
    .optional(),
  DataSetWriterGroup: z.string().max(256).optional(),
  DataSetWriterId: z.string().max(256).optional(),
  DataSetName: z.string().max(256).optional(),
  DataSetPublishingInterval: intervalMs.optional(),
  DataSetPublishingIntervalTimespan: timespan.optional(),
  OpcNodes: z.array(PublishedNodeSchema).max(100_000).optional(),
});

export type PublishedNode = z.infer<typeof PublishedNodeSchema>;
export type PublishedNodesEntry = z.infer<typeof PublishedNodesEntrySchema>;
export const PublishedNodesFileSchema = z.array(PublishedNodesEntrySchema).max(10_000);

export type SecurityModeSetting = 'None' | 'Sign' | 'SignAndEncrypt' | 'Best';

/** How to connect: the identity of one session. */
export interface EndpointSpec {
  /** Stable key: URL + security + user (one session per key). */
  key: string;
  endpointUrl: string;
  securityMode: SecurityModeSetting;
  /** A policy name (`Basic256Sha256`, …); default: the best the server offers for the mode. */
  securityPolicy: string | undefined;
  auth: { mode: 'Anonymous' } | { mode: 'UsernamePassword'; username: string; passwordSecret: string | undefined };
}

/** One published node, resolved with defaults. */
export interface MonitoredNodeSpec {
  /** `<writerKey>|<Id>`. */
  key: string;
  writerGroup: string;
  writerId: string;
  dataSetName: string | undefined;
  nodeId: string;
  /** The PubSub field name: DataSetFieldId ?? DisplayName ?? Id. */
  fieldName: string;
  displayName: string | undefined;
  samplingIntervalMs: number;
  publishingIntervalMs: number;
  heartbeatIntervalMs: number;
  queueSize: number;
  discardOldest: boolean;
  trigger: 'Status' | 'StatusValue' | 'StatusValueTimestamp' | undefined;
  deadband: { type: 'Absolute' | 'Percent'; value: number } | undefined;
}

export interface PublishingDefaults {
  samplingIntervalMs: number;
  publishingIntervalMs: number;
  queueSize: number;
}

export const DEFAULT_PUBLISHING: PublishingDefaults = {
  samplingIntervalMs: 1000,
  publishingIntervalMs: 1000,
  queueSize: 1,
};

/** The security mode an entry asks for: UseSecurity true → SignAndEncrypt, false → None; unset → Best. */
export function securityModeOf(entry: PublishedNodesEntry): SecurityModeSetting {
  if (entry.EndpointSecurityMode !== undefined) {
    return entry.EndpointSecurityMode === 'SignOrEncrypt' ? 'Best' : entry.EndpointSecurityMode;
  }
  if (entry.UseSecurity === true) return 'SignAndEncrypt';
  if (entry.UseSecurity === false) return 'None';
  return 'Best';
}

export function endpointSpecOf(entry: PublishedNodesEntry): EndpointSpec {
  const securityMode = securityModeOf(entry);
  const username = entry.OpcAuthenticationUsername;
  const userMode =
    entry.OpcAuthenticationMode === 'UsernamePassword' || (entry.OpcAuthenticationMode === undefined && username);
  const auth: EndpointSpec['auth'] = userMode
    ? { mode: 'UsernamePassword', username: username ?? '', passwordSecret: entry.OpcAuthenticationPasswordSecret }
    : { mode: 'Anonymous' };
  const key = [
    entry.EndpointUrl,
    securityMode,
    entry.EndpointSecurityPolicy ?? '',
    auth.mode === 'Anonymous' ? '' : auth.username,
  ].join('|');
  return { key, endpointUrl: entry.EndpointUrl, securityMode, securityPolicy: entry.EndpointSecurityPolicy, auth };
}

export function writerGroupOf(entry: PublishedNodesEntry): string {
  return entry.DataSetWriterGroup ?? entry.EndpointUrl;
}

export function writerIdOf(entry: PublishedNodesEntry): string {
  return entry.DataSetWriterId ?? entry.DataSetName ?? entry.EndpointUrl;
}

/** What identifies a writer across PublishNodes/Unpublish calls. */
export function writerKeyOf(entry: PublishedNodesEntry): string {
  return `${endpointSpecOf(entry).key}|${writerGroupOf(entry)}|${writerIdOf(entry)}`;
}

function msOf(value: number | undefined, span: string | undefined): number | undefined {
  return value ?? (span === undefined ? undefined : parseTimespanMs(span));
}

/** One entry's nodes with every default resolved. */
export function monitoredNodesOf(
  entry: PublishedNodesEntry,
  defaults: PublishingDefaults = DEFAULT_PUBLISHING,
): MonitoredNodeSpec[] {
  const writerKey = writerKeyOf(entry);
  const writerPublishing = msOf(entry.DataSetPublishingInterval, entry.DataSetPublishingIntervalTimespan);
  return (entry.OpcNodes ?? []).map((node) => {
    const heartbeatS = node.HeartbeatInterval;
    const heartbeatSpanMs = node.HeartbeatIntervalTimespan ? parseTimespanMs(node.HeartbeatIntervalTimespan) : 0;
    return {
      key: `${writerKey}|${node.Id}`,
      writerGroup: writerGroupOf(entry),
      writerId: writerIdOf(entry),
      dataSetName: entry.DataSetName,
      nodeId: node.Id,
      fieldName: node.DataSetFieldId ?? node.DisplayName ?? node.Id,
      displayName: node.DisplayName,
      samplingIntervalMs:
        msOf(node.OpcSamplingInterval, node.OpcSamplingIntervalTimespan) ?? defaults.samplingIntervalMs,
      publishingIntervalMs:
        msOf(node.OpcPublishingInterval, node.OpcPublishingIntervalTimespan) ??
        writerPublishing ??
        defaults.publishingIntervalMs,
      heartbeatIntervalMs: heartbeatS !== undefined ? heartbeatS * 1000 : (heartbeatSpanMs ?? 0),
      queueSize: node.QueueSize ?? defaults.queueSize,
      discardOldest: node.DiscardNew !== true,
      trigger: node.DataChangeTrigger,
      deadband:
        node.DeadbandType !== undefined && node.DeadbandValue !== undefined
          ? { type: node.DeadbandType, value: node.DeadbandValue }
          : undefined,
    };
  });
}

/** Removes secrets for answers and reported properties. */
export function withoutSecrets(entry: PublishedNodesEntry): PublishedNodesEntry {
  const { OpcAuthenticationPassword: _password, ...rest } = entry;
  return rest;
}

/** Entry without its nodes (GetConfiguredEndpoints_V1). */
export function endpointPart(entry: PublishedNodesEntry): PublishedNodesEntry {
  const { OpcNodes: _nodes, ...rest } = withoutSecrets(entry);
  return rest;
}

function sameWriter(a: PublishedNodesEntry, b: PublishedNodesEntry): boolean {
  return writerKeyOf(a) === writerKeyOf(b);
}

/**
 * PublishNodes_V1: adds the request's nodes to its writer (a node with the same `Id` is replaced, so
 * its settings can be changed); other writers are untouched. Returns a new list.
 */
export function publishNodes(
  current: readonly PublishedNodesEntry[],
  request: PublishedNodesEntry,
): PublishedNodesEntry[] {
  const out = current.map((e) => ({ ...e }));
  const index = out.findIndex((e) => sameWriter(e, request));
  const incoming = request.OpcNodes ?? [];
  if (index < 0) {
    out.push({ ...request, OpcNodes: dedupeNodes(incoming) });
    return out;
  }
  const existing = out[index] as PublishedNodesEntry;
  const byId = new Map((existing.OpcNodes ?? []).map((n) => [n.Id, n] as const));
  for (const node of incoming) byId.set(node.Id, node);
  out[index] = { ...existing, ...request, OpcNodes: [...byId.values()] };
  return out;
}

function dedupeNodes(nodes: readonly PublishedNode[]): PublishedNode[] {
  return [...new Map(nodes.map((n) => [n.Id, n] as const)).values()];
}

/**
 * UnpublishNodes_V1: removes the request's node ids from its writer; a writer left empty is removed.
 * Returns the new list and the ids that were not published.
 */
export function unpublishNodes(
  current: readonly PublishedNodesEntry[],
  request: PublishedNodesEntry,
): { entries: PublishedNodesEntry[]; missing: string[] } {
  const ids = new Set((request.OpcNodes ?? []).map((n) => n.Id));
  const found = new Set<string>();
  const entries: PublishedNodesEntry[] = [];
  for (const entry of current) {
    if (!sameWriter(entry, request)) {
      entries.push(entry);
      continue;
    }
    const kept = (entry.OpcNodes ?? []).filter((n) => {
      if (!ids.has(n.Id)) return true;
      found.add(n.Id);
      return false;
    });
    if (kept.length > 0) entries.push({ ...entry, OpcNodes: kept });
  }
  return { entries, missing: [...ids].filter((id) => !found.has(id)) };
}

/** Which writers a request means. */
export interface EndpointFilter {
  EndpointUrl?: string | undefined;
  DataSetWriterGroup?: string | undefined;
  DataSetWriterId?: string | undefined;
}

/**
 * UnpublishAllNodes_V1: without `EndpointUrl` everything goes; with it, the writers of that endpoint
 * (narrowed by `DataSetWriterGroup`/`DataSetWriterId` when given).
 */
export function unpublishAll(current: readonly PublishedNodesEntry[], request: EndpointFilter): PublishedNodesEntry[] {
  if (request.EndpointUrl === undefined) return [];
  return current.filter(
    (e) =>
      !(
        e.EndpointUrl === request.EndpointUrl &&
        (request.DataSetWriterGroup === undefined || writerGroupOf(e) === request.DataSetWriterGroup) &&
        (request.DataSetWriterId === undefined || writerIdOf(e) === request.DataSetWriterId)
      ),
  );
}

/** GetConfiguredNodesOnEndpoint_V1: the nodes of the matching writers. */
export function nodesOnEndpoint(entries: readonly PublishedNodesEntry[], request: EndpointFilter): PublishedNode[] {
  return entries
    .filter(
      (e) =>
        e.EndpointUrl === request.EndpointUrl &&
        (request.DataSetWriterGroup === undefined || writerGroupOf(e) === request.DataSetWriterGroup) &&
        (request.DataSetWriterId === undefined || writerIdOf(e) === request.DataSetWriterId),
    )
    .flatMap((e) => e.OpcNodes ?? []);
}
