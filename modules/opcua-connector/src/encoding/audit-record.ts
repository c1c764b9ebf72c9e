/**
 * The connector's `audit` output: one record per device write, in the record schema of modules/audit
 * (`AuditRecordSchema`, strict — test/contract/connector-audit.test.ts checks it). The connector does not
 * depend on @takt/audit: the shape is kept here and pinned by that contract test.
 */

/** `sourceModule` of every record the connector emits. */
export const AUDIT_SOURCE_MODULE = 'opcua-connector';

/** A before/after/requested value larger than this (JSON characters) is replaced by a summary. */
export const MAX_AUDIT_VALUE_CHARS = 16 * 1024;

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

export interface ConnectorAuditRecord {
  sourceModule: typeof AUDIT_SOURCE_MODULE;
  sourceMessageId: string;
  timestamp: string;
  actor: { type: 'module'; id: string };
  action: 'device.write' | 'device.write.failed';
  target: { type: 'node'; id: string; name: string };
  before: Json;
  after: Json;
  details: Record<string, Json>;
}

/** What the connector knows about one write when it records it. */
export interface WriteAuditFacts {
  /** Stable id of the record (the de-duplication key with `sourceModule`). */
  id: string;
  /** Epoch ms. */
  at: number;
  /** The caller (`actor` of the write method), e.g. `orchestrator`; `unknown` when not given. */
  actor: string | undefined;
  endpointUrl: string;
  nodeId: string;
  ok: boolean;
  before: unknown;
  after: unknown;
  requested: unknown;
  statusCode: string | null;
  dataType?: string | undefined;
  readBackMatches?: boolean | undefined;
  /** Error code when the write failed. */
  error?: string | undefined;
  correlationId?: string | undefined;
}

export function writeAuditRecord(facts: WriteAuditFacts): ConnectorAuditRecord {
  const actor = (facts.actor ?? '').trim().slice(0, 256);
  const details: Record<string, Json> = {
    endpointUrl: facts.endpointUrl,
    nodeId: facts.nodeId,
    ok: facts.ok,
    statusCode: facts.statusCode,
    requested: auditValue(facts.requested),
  };
  if (facts.dataType !== undefined) details['dataType'] = facts.dataType;
  if (facts.readBackMatches !== undefined) details['readBackMatches'] = facts.readBackMatches;
  if (facts.error !== undefined) details['error'] = facts.error;
  if (facts.correlationId !== undefined) details['correlationId'] = facts.correlationId;
  return {
    sourceModule: AUDIT_SOURCE_MODULE,
    sourceMessageId: facts.id,
    timestamp: new Date(facts.at).toISOString(),
    actor: { type: 'module', id: actor === '' ? 'unknown' : actor },
    action: facts.ok ? 'device.write' : 'device.write.failed',
    // the same target id as the orchestrator's own record of the write
    target: {
      type: 'node',
      id: `${facts.endpointUrl}|${facts.nodeId}`.slice(0, 512),
      name: facts.nodeId.slice(0, 256),
    },
    before: auditValue(facts.before),
    after: auditValue(facts.after),
    details,
  };
}

/** A JSON value for the record: undefined → null, non-JSON (NaN, bigint) made JSON, huge values summarised. */
export function auditValue(value: unknown): Json {
  let text: string | undefined;
  try {
    text = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  } catch {
    text = JSON.stringify(String(value));
  }
  if (text === undefined) return null;
  if (text.length > MAX_AUDIT_VALUE_CHARS) {
    return { truncated: true, chars: text.length, preview: text.slice(0, 1024) };
  }
  return JSON.parse(text) as Json;
}
