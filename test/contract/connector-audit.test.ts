/**
 * The audit contract between the opcua-connector (output `audit`) and the audit module (input
 * `records`): every record the connector builds for a device write must pass the audit module's
 * `AuditRecordSchema` (strict) exactly, or the audit module parks it (`audit.record.parked`).
 */
import { AuditRecordSchema, validateRecord } from '@takt/audit';
import {
  AUDIT_SOURCE_MODULE,
  MAX_AUDIT_VALUE_CHARS,
  type WriteAuditFacts,
  writeAuditRecord,
} from '@takt/opcua-connector';
import { describe, expect, it } from 'vitest';

const NODE = 'nsu=urn:takt:opcua-plant;s=Reactor.TemperatureSetpoint';
const ENDPOINT = 'opc.tcp://127.0.0.1:4840';

const ok: WriteAuditFacts = {
  id: 'opcua-write:7d0c3a52-4d0e-4a8e-9a39-3f1f2b0c9e11',
  at: Date.parse('2026-11-25T10:00:00.000Z'),
  actor: 'orchestrator',
  endpointUrl: ENDPOINT,
  nodeId: NODE,
  ok: true,
  before: 80,
  after: 85.5,
  requested: '85.5',
  statusCode: 'Good',
  dataType: 'Double',
  readBackMatches: true,
  correlationId: 'wf-1/step-2',
};

/**
 * What the audit module does with a record it receives (its store's `validateRecord`: the strict schema,
 * canonical form, size limit — a record failing it is parked), plus: nothing was trimmed or dropped.
 */
function accepted(record: unknown): unknown {
  const wire: unknown = JSON.parse(JSON.stringify(record));
  const parsed = AuditRecordSchema.safeParse(wire);
  expect(parsed.error?.issues ?? []).toEqual([]);
  expect(parsed.data).toEqual(wire);
  const validated = validateRecord(wire);
  expect(validated).toMatchObject({ ok: true });
  return validated.ok ? validated.record : undefined;
}

describe('audit contract: opcua-connector → audit', () => {
  it('a successful write: the caller as the actor (module), before/after, the facts in details', () => {
    expect(accepted(writeAuditRecord(ok))).toEqual({
      sourceModule: AUDIT_SOURCE_MODULE,
      sourceMessageId: ok.id,
      timestamp: '2026-11-25T10:00:00.000Z',
      actor: { type: 'module', id: 'orchestrator' },
      action: 'device.write',
      target: { type: 'node', id: `${ENDPOINT}|${NODE}`, name: NODE },
      before: 80,
      after: 85.5,
      details: {
        endpointUrl: ENDPOINT,
        nodeId: NODE,
        ok: true,
        statusCode: 'Good',
        requested: '85.5',
        dataType: 'Double',
        readBackMatches: true,
        correlationId: 'wf-1/step-2',
      },
    });
  });

  it('a failed write (bad status, no actor, nothing read): device.write.failed with the error code', () => {
    const record = accepted(
      writeAuditRecord({
        id: 'opcua-write:2',
        at: 0,
        actor: undefined,
        endpointUrl: ENDPOINT,
        nodeId: NODE,
        ok: false,
        before: undefined,
        after: null,
        requested: null,
        statusCode: null,
        error: 'OPCUA_BAD_STATUS',
      }),
    );
    expect(record).toMatchObject({
      action: 'device.write.failed',
      actor: { type: 'module', id: 'unknown' },
      before: null,
      after: null,
      details: { ok: false, statusCode: null, error: 'OPCUA_BAD_STATUS' },
    });
  });

  it('a read-back mismatch is a failed write too', () => {
    expect(accepted(writeAuditRecord({ ...ok, ok: false, readBackMatches: false }))).toMatchObject({
      action: 'device.write.failed',
      details: { readBackMatches: false },
    });
  });

  it('values that are not plain JSON, and huge values, still make a valid record', () => {
    const huge = Array.from({ length: 20_000 }, (_, i) => i);
    const record = accepted(
      writeAuditRecord({
        ...ok,
        actor: '  ',
        before: { raw: 10n, nan: Number.NaN, at: new Date(0), missing: undefined },
        after: huge,
        requested: huge,
      }),
    ) as { actor: { id: string }; before: unknown; after: { truncated: boolean; chars: number } };
    expect(record.actor.id).toBe('unknown');
    expect(record.before).toEqual({ raw: '10', nan: null, at: '1970-01-01T00:00:00.000Z' });
    expect(record.after).toMatchObject({ truncated: true });
    expect(record.after.chars).toBeGreaterThan(MAX_AUDIT_VALUE_CHARS);
  });

  it('a long node id and actor are cut to the schema limits', () => {
    accepted(writeAuditRecord({ ...ok, nodeId: `ns=2;s=${'x'.repeat(700)}`, actor: 'a'.repeat(400) }));
  });
});
