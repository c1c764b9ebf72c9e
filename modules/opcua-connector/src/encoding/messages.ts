/**
 * Telemetry encoding (pure): value changes → OPC UA PubSub JSON network messages (OPC 10000-14
 * §7.2.5, as OPC Publisher's strict mode sends them) or the legacy "samples" form, batched into
 * messages under the edgeHub size limit.
 */

/** One value change, already converted to JSON-safe values. */
export interface ValueChange {
  endpointUrl: string;
  writerGroup: string;
  writerId: string;
  dataSetName: string | undefined;
  nodeId: string;
  fieldName: string;
  displayName: string | undefined;
  value: unknown;
  /** ISO 8601 or undefined. */
  sourceTimestamp: string | undefined;
  serverTimestamp: string | undefined;
  /** Numeric status code; 0 (Good) is omitted on the wire. */
  statusCode: number;
}

export type MessageEncoding = 'pubsub' | 'samples';

export interface EncodeContext {
  publisherId: string;
  /** Next DataSetMessage sequence number per writer (mutated). */
  sequences: Map<string, number>;
  /** Next network message id (mutated). */
  nextMessageId: () => string;
  now: () => Date;
}

interface FieldValue {
  Value: unknown;
  SourceTimestamp?: string;
  ServerTimestamp?: string;
  StatusCode?: number;
}

function fieldValue(change: ValueChange): FieldValue {
  return {
    Value: change.value,
    ...(change.sourceTimestamp === undefined ? {} : { SourceTimestamp: change.sourceTimestamp }),
    ...(change.serverTimestamp === undefined ? {} : { ServerTimestamp: change.serverTimestamp }),
    ...(change.statusCode === 0 ? {} : { StatusCode: change.statusCode }),
  };
}

function nextSequence(context: EncodeContext, key: string): number {
  const seq = context.sequences.get(key) ?? 1;
  context.sequences.set(key, seq >= 0xffffffff ? 1 : seq + 1);
  return seq;
}

/**
 * One network message (`ua-data`) for a batch: one `ua-deltaframe` DataSetMessage per writer. When a
 * field changes k times within the batch (a server queue delivering a backlog), its k-th value goes
 * into the writer's k-th DataSetMessage, so no change is lost, order per field is kept, and the number
 * of DataSetMessages stays at the largest repeat count rather than growing with every repeat.
 */
export function encodePubSub(changes: readonly ValueChange[], context: EncodeContext): Record<string, unknown> {
  const timestamp = context.now().toISOString();
  interface Draft {
    writerKey: string;
    change: ValueChange;
    payload: Record<string, FieldValue>;
  }
  const byWriter = new Map<string, { drafts: Draft[]; seen: Map<string, number> }>();
  const ordered: Draft[] = [];
  for (const change of changes) {
    const writerKey = `${change.writerGroup}/${change.writerId}`;
    let writer = byWriter.get(writerKey);
    if (!writer) {
      writer = { drafts: [], seen: new Map() };
      byWriter.set(writerKey, writer);
    }
    const occurrence = writer.seen.get(change.fieldName) ?? 0;
    writer.seen.set(change.fieldName, occurrence + 1);
    let draft = writer.drafts[occurrence];
    if (!draft) {
      draft = { writerKey, change, payload: {} };
      writer.drafts.push(draft);
      ordered.push(draft);
    }
    draft.payload[change.fieldName] = fieldValue(change);
  }
  return {
    MessageId: context.nextMessageId(),
    MessageType: 'ua-data',
    PublisherId: context.publisherId,
    Messages: ordered.map((m) => ({
      DataSetWriterId: m.change.writerId,
      DataSetWriterGroup: m.change.writerGroup,
      ...(m.change.dataSetName === undefined ? {} : { DataSetWriterName: m.change.dataSetName }),
      SequenceNumber: nextSequence(context, m.writerKey),
      MetaDataVersion: { MajorVersion: 1, MinorVersion: 0 },
      Timestamp: timestamp,
      MessageType: 'ua-deltaframe',
      Payload: m.payload,
    })),
  };
}

/** The legacy OPC Publisher samples form: an array of one object per change. */
export function encodeSamples(changes: readonly ValueChange[], context: EncodeContext): Record<string, unknown>[] {
  const timestamp = context.now().toISOString();
  return changes.map((change) => ({
    NodeId: change.nodeId,
    EndpointUrl: change.endpointUrl,
    ...(change.displayName === undefined ? {} : { DisplayName: change.displayName }),
    DataSetWriterId: change.writerId,
    Timestamp: timestamp,
    Value: fieldValue(change),
    SequenceNumber: nextSequence(context, `samples/${change.writerGroup}/${change.writerId}`),
  }));
}

/**
 * Encodes a batch into one or more UTF-8 JSON bodies, each at most `maxMessageBytes` (halving the
 * batch until it fits; a single change that alone exceeds the limit is returned in `oversized`).
 */
export function encodeBatch(
  changes: readonly ValueChange[],
  encoding: MessageEncoding,
  maxMessageBytes: number,
  context: EncodeContext,
): { bodies: Buffer[]; oversized: ValueChange[] } {
  const bodies: Buffer[] = [];
  const oversized: ValueChange[] = [];
  const pending: (readonly ValueChange[])[] = [changes];
  // bounded: every split halves a slice, so at most 2·n slices are ever queued
  for (let guard = 0; pending.length > 0 && guard < 4 * changes.length + 4; guard += 1) {
    const slice = pending.shift() as readonly ValueChange[];
    if (slice.length === 0) continue;
    const body = Buffer.from(
      JSON.stringify(encoding === 'pubsub' ? encodePubSub(slice, context) : encodeSamples(slice, context)),
      'utf8',
    );
    if (body.length <= maxMessageBytes) {
      bodies.push(body);
    } else if (slice.length === 1) {
      oversized.push(slice[0] as ValueChange);
    } else {
      const half = Math.ceil(slice.length / 2);
      pending.unshift(slice.slice(0, half), slice.slice(half));
    }
  }
  return { bodies, oversized };
}
