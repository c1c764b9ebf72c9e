import { describe, expect, it } from 'vitest';
import { type OutboxMessage, silentLogger } from '@takt/edge-kit';
import { type DigitalTwinsApi, DigitalTwinsSink, type StatusEvent } from '../../src/index.js';

/** An in-memory fake of the SDK surface, with a hook to simulate another writer. */
function fakeClient() {
  const twins = new Map<string, { body: Record<string, unknown>; etag: string }>();
  let n = 0;
  const calls: string[] = [];
  const restError = (statusCode: number) => Object.assign(new Error(`status ${statusCode}`), { statusCode });
  const api = {
    calls,
    twins,
    interfere: undefined as undefined | ((id: string) => void),
    listModels: () =>
      (async function* () {
        await Promise.resolve();
        yield* [] as { id: string }[];
      })(),
    createModels: () => Promise.resolve({}),
    upsertDigitalTwin: (id: string, json: string, options?: { ifNoneMatch?: string }) => {
      calls.push(`PUT ${id}`);
      if (options?.ifNoneMatch === '*' && twins.has(id)) return Promise.reject(restError(412));
      const etag = `e${++n}`;
      twins.set(id, { body: JSON.parse(json) as Record<string, unknown>, etag });
      return Promise.resolve({ etag, body: {} });
    },
    getDigitalTwin: (id: string) => {
      calls.push(`GET ${id}`);
      const t = twins.get(id);
      return t ? Promise.resolve({ body: { ...t.body }, etag: t.etag }) : Promise.reject(restError(404));
    },
    updateDigitalTwin: (id: string, ops: { path: string; value: unknown }[], options?: { ifMatch?: string }) => {
      calls.push(`PATCH ${id}`);
      api.interfere?.(id);
      const t = twins.get(id);
      if (!t) return Promise.reject(restError(404));
      if (options?.ifMatch !== undefined && options.ifMatch !== t.etag) return Promise.reject(restError(412));
      for (const op of ops) t.body[op.path.slice(1)] = op.value;
      t.etag = `e${++n}`;
      return Promise.resolve({ etag: t.etag });
    },
    upsertRelationship: () => Promise.resolve({}),
  };
  return api;
}

function message(e: StatusEvent, seq: number): OutboxMessage {
  return {
    seq,
    id: e.eventId,
    channel: 'digitalTwins',
    source: e.instanceId,
    sourceSeq: seq,
    body: Buffer.from(JSON.stringify(e)),
    contentType: 'application/json',
    properties: {},
    createdAt: 0,
    attempts: 0,
  };
}

const ev = (seq: number, state = 'running'): StatusEvent => ({
  eventId: `r:${seq}`,
  type: seq === 1 ? 'instance.started' : 'instance.state',
  instanceId: 'r',
  workflowId: 'w',
  workflowVersion: 'v1',
  state,
  at: '2026-11-25T10:00:00.000Z',
  seq,
});

describe('DigitalTwinsSink', () => {
  it('coalesces a batch into one patch per twin', async () => {
    const client = fakeClient();
    const sink = new DigitalTwinsSink({
      client: client as unknown as DigitalTwinsApi,
      models: [],
      logger: silentLogger,
      minWriteIntervalMs: 0,
    });
    await sink.deliver(
      [1, 2, 3, 4, 5].map((s) => message(ev(s), s)),
      new AbortController().signal,
    );
    expect(client.calls.filter((c) => c === 'PATCH run-r')).toHaveLength(1);
    expect(client.twins.get('run-r')?.body).toMatchObject({ seq: 5, state: 'running' });
  });

  it('resolves a stale ETag by re-reading, and keeps a newer state written by someone else', async () => {
    const client = fakeClient();
    const sink = new DigitalTwinsSink({
      client: client as unknown as DigitalTwinsApi,
      models: [],
      logger: silentLogger,
      minWriteIntervalMs: 0,
    });
    await sink.deliver([message(ev(1), 1)], new AbortController().signal);
    // another writer bumps the ETag once: the sink re-reads and applies on top
    let once = true;
    client.interfere = (id) => {
      const t = client.twins.get(id);
      if (once && t && id === 'run-r') {
        once = false;
        t.etag = 'someone-else';
      }
    };
    await sink.deliver([message(ev(2, 'holding'), 2)], new AbortController().signal);
    expect(client.twins.get('run-r')?.body).toMatchObject({ seq: 2, state: 'holding' });
    expect(client.calls.slice(-4)).toEqual(['PATCH run-r', 'GET run-r', 'PATCH run-r', 'PATCH workflow-w']);
    // another writer got further (seq 9): our older update is dropped, not forced over it
    client.interfere = (id) => {
      const t = client.twins.get(id);
      if (t && id === 'run-r') {
        t.body['seq'] = 9;
        t.body['state'] = 'completed';
        t.etag = `x${Math.random()}`;
      }
    };
    await sink.deliver([message(ev(3), 3)], new AbortController().signal);
    expect(client.twins.get('run-r')?.body).toMatchObject({ seq: 9, state: 'completed' });
  });

  it('spaces writes to one twin by the minimum interval (creation included)', async () => {
    const client = fakeClient();
    const times: number[] = [];
    client.interfere = (id) => {
      if (id === 'run-r') times.push(Date.now());
    };
    const put = client.upsertDigitalTwin;
    client.upsertDigitalTwin = (id, json, options) => {
      if (id === 'run-r') times.push(Date.now());
      return put(id, json, options);
    };
    const sink = new DigitalTwinsSink({
      client: client as unknown as DigitalTwinsApi,
      models: [],
      logger: silentLogger,
      minWriteIntervalMs: 40,
    });
    for (const s of [1, 2, 3]) await sink.deliver([message(ev(s), s)], new AbortController().signal);
    expect(times).toHaveLength(4);
    for (let i = 1; i < times.length; i += 1) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(38);
    expect(sink.writes.get('run-r')).toBe(4);
  });
});
