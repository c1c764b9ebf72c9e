import { describe, expect, it } from 'vitest';
import { type EncodeContext, type ValueChange, encodeBatch, valueToJson } from '../../src/index.js';

function context(): EncodeContext {
  let id = 0;
  return {
    publisherId: 'edge1/opcua',
    sequences: new Map(),
    nextMessageId: () => `m${++id}`,
    now: () => new Date('2026-11-25T10:00:00Z'),
  };
}

function change(field: string, value: unknown, writerId = 'W1'): ValueChange {
  return {
    endpointUrl: 'opc.tcp://plc:4840',
    writerGroup: 'G',
    writerId,
    dataSetName: undefined,
    nodeId: `nsu=urn:x;s=${field}`,
    fieldName: field,
    displayName: field,
    value,
    sourceTimestamp: '2026-11-25T09:59:59.000Z',
    serverTimestamp: '2026-11-25T09:59:59.001Z',
    statusCode: 0,
  };
}

describe('telemetry encoding', () => {
  it('builds OPC 10000-14 network messages, one DataSetMessage per writer, the k-th repeat of a field in the k-th one', () => {
    const { bodies } = encodeBatch(
      [change('T', 1), change('P', 2), change('T', 3), change('X', 4, 'W2'), change('T', 5), change('P', 6)],
      'pubsub',
      256_000,
      context(),
    );
    expect(bodies).toHaveLength(1);
    const message = JSON.parse(bodies[0]!.toString('utf8')) as {
      Messages: { DataSetWriterId: string; SequenceNumber: number; Payload: Record<string, unknown> }[];
    };
    expect(message).toMatchObject({ MessageId: 'm1', MessageType: 'ua-data', PublisherId: 'edge1/opcua' });
    expect(message.Messages.map((m) => [m.DataSetWriterId, m.SequenceNumber, Object.keys(m.Payload)])).toEqual([
      ['W1', 1, ['T', 'P']],
      ['W1', 2, ['T', 'P']],
      ['W2', 1, ['X']],
      ['W1', 3, ['T']],
    ]);
    expect(message.Messages[0]!.Payload['T']).toEqual({
      Value: 1,
      SourceTimestamp: '2026-11-25T09:59:59.000Z',
      ServerTimestamp: '2026-11-25T09:59:59.001Z',
    });
  });

  it('splits batches so every message stays under the size limit', () => {
    const changes = Array.from({ length: 400 }, (_, i) => change(`F${i}`, 'x'.repeat(100)));
    const { bodies, oversized } = encodeBatch(changes, 'pubsub', 8_192, context());
    expect(oversized).toEqual([]);
    expect(bodies.length).toBeGreaterThan(4);
    for (const body of bodies) expect(body.length).toBeLessThanOrEqual(8_192);
    const fields = bodies.flatMap((b) =>
      (JSON.parse(b.toString()) as { Messages: { Payload: object }[] }).Messages.flatMap((m) => Object.keys(m.Payload)),
    );
    expect(fields).toHaveLength(400);
    expect(encodeBatch([change('Big', 'y'.repeat(10_000))], 'pubsub', 4_096, context()).oversized).toHaveLength(1);
  });

  it('encodes the samples form', () => {
    const { bodies } = encodeBatch([change('T', 1)], 'samples', 256_000, context());
    expect(JSON.parse(bodies[0]!.toString())).toEqual([
      expect.objectContaining({
        NodeId: 'nsu=urn:x;s=T',
        DisplayName: 'T',
        Value: expect.objectContaining({ Value: 1 }) as unknown,
        SequenceNumber: 1,
      }),
    ]);
  });

  it('converts OPC UA values to JSON', () => {
    expect(valueToJson(Number.NaN)).toBe('NaN');
    expect(valueToJson([0, 5], 8)).toBe(5);
    expect(valueToJson([0x7fffffff, 0xffffffff], 8)).toBe('9223372036854775807');
    expect(valueToJson(new Date('2026-01-01T00:00:00Z'))).toBe('2026-01-01T00:00:00.000Z');
    expect(valueToJson(Buffer.from('hi'))).toBe('aGk=');
    expect(valueToJson(new Float32Array([1.5, 2]))).toEqual([1.5, 2]);
    expect(valueToJson({ text: 'Hallo', locale: 'de' })).toBe('Hallo');
  });
});
