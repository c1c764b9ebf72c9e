import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '@takt/test-support';
import { ADMIN, type Harness, createHarness, waitForAck, waitForStatus } from './harness.js';

const PREFIX = '127.47.5';
let counter = 0;
let h: Harness | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
});

const gate = {
  id: 'gate',
  version: '1',
  start: 'wait',
  steps: {
    wait: { type: 'wait', event: 'open', next: 'done' },
    done: { type: 'succeed' },
  },
};

const tick = {
  id: 'tick',
  version: '1',
  triggers: [{ kind: 'schedule', cron: '* * * * * *' }],
  start: 'done',
  steps: { done: { type: 'succeed' } },
};

interface Api {
  call(
    method: string,
    path: string,
    token?: string,
    body?: unknown,
  ): Promise<{ status: number; body: Record<string, unknown> }>;
  login(user: string, password: string): Promise<string>;
}

function api(port: number): Api {
  const a: Api = {
    async call(method, path, token, body) {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, {
        method,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    },
    async login(user, password) {
      const res = await a.call('POST', '/api/login', undefined, { user, password });
      expect(res.status).toBe(200);
      return String(res.body['token']);
    },
  };
  return a;
}

describe('orchestrator: console API, live stream, schedules, reconnects', () => {
  it('serves the console: operator verbs, definitions, validate, simulate, and a live event stream', async () => {
    h = await createHarness(PREFIX, ++counter);
    await h.startConnector();
    const module = await h.startOrchestrator();
    const http = api(module.http.port());
    const version = await h.deploy({ gate });
    await waitForAck(h, 'gate', version);

    const admin = await http.login(ADMIN.user, ADMIN.password);
    expect(
      (await http.call('POST', '/api/users', admin, { name: 'olga', password: 'olga-pass-1', roles: ['operator'] }))
        .status,
    ).toBe(201);
    expect(
      (await http.call('POST', '/api/users', admin, { name: 'vic', password: 'vic-pass-12', roles: ['viewer'] }))
        .status,
    ).toBe(201);
    const olga = await http.login('olga', 'olga-pass-1');
    const vic = await http.login('vic', 'vic-pass-12');

    // The live stream (SSE).
    const controller = new AbortController();
    const stream = await fetch(`http://127.0.0.1:${module.http.port()}/api/events`, {
      headers: { authorization: `Bearer ${vic}` },
      signal: controller.signal,
    });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toContain('text/event-stream');
    let text = '';
    const reader = stream.body?.getReader();
    const decoder = new TextDecoder();
    const pump = (async () => {
      for (let i = 0; i < 100_000 && reader !== undefined; i++) {
        const chunk = await reader.read().catch(() => ({ done: true as const, value: undefined }));
        if (chunk.done) break;
        text += decoder.decode(chunk.value, { stream: true });
      }
    })();

    expect((await http.call('POST', '/api/instances', vic, { workflowId: 'gate' })).status).toBe(403);
    const started = await http.call('POST', '/api/instances', olga, { workflowId: 'gate', correlationId: 'c-1' });
    expect(started.status).toBe(201);
    const instanceId = String(started.body['instanceId']);
    await waitFor(() => text.includes('"type":"instance.started"') && text.includes(instanceId), {
      timeoutMs: 10_000,
      description: 'instance.started on the live stream',
    });
    expect(
      (await http.call('POST', `/api/instances/${instanceId}/hold`, olga, { reason: 'check' })).body,
    ).toMatchObject({
      instanceId,
    });
    await waitForStatus(h, instanceId, 'held');
    expect((await http.call('POST', `/api/instances/${instanceId}/restart`, olga, {})).body['status']).toBe('running');
    expect((await http.call('POST', `/api/instances/${instanceId}/signal`, olga, { name: 'open' })).status).toBe(200);
    await waitForStatus(h, instanceId, 'succeeded');
    await waitFor(() => text.includes('"type":"instance.completed"'), { timeoutMs: 10_000 });
    expect(text).toContain('event: audit');
    controller.abort();
    await pump;

    const list = await http.call('GET', '/api/instances?workflowId=gate', vic);
    expect(list.body).toMatchObject({ total: 1, items: [{ instanceId, status: 'succeeded', correlationId: 'c-1' }] });
    const one = await http.call('GET', `/api/instances/${instanceId}?history=true`, vic);
    expect(Array.isArray(one.body['history'])).toBe(true);
    const defs = await http.call('GET', '/api/definitions', vic);
    expect(defs.body['items']).toEqual([expect.objectContaining({ id: 'gate', ac: 200, version: '1' })]);
    expect((await http.call('POST', '/api/validate', vic, gate)).status).toBe(403);
    const engineer = await http.login(ADMIN.user, ADMIN.password);
    const invalid = await http.call('POST', '/api/validate', engineer, {
      id: 'x',
      version: '1',
      start: 'a',
      steps: {},
    });
    expect(invalid.body['valid']).toBe(false);
    const sim = await http.call('POST', '/api/simulate', engineer, {
      definition: gate,
      responses: {},
      maxVirtualMs: 60_000,
    });
    expect(sim.body).toMatchObject({ valid: true });
    const bad = await http.call('POST', '/api/instances', olga, { workflowId: 42 });
    expect(bad).toMatchObject({ status: 400, body: { code: 'ORCH_REQUEST_INVALID' } });
    const unknown = await http.call('POST', '/api/instances/nope/hold', olga, {});
    expect(unknown).toMatchObject({ status: 404, body: { code: 'WF_INSTANCE_NOT_FOUND' } });

    // Engine health in the reported properties.
    const engine = await waitFor(
      async () => {
        const reported = (await h!.hub.control.twin('orchestrator')).reported['engine'] as
          Record<string, unknown> | undefined;
        return (reported?.['instances'] as Record<string, number> | undefined)?.['succeeded'] === 1
          ? reported
          : undefined;
      },
      { timeoutMs: 10_000, description: 'engine health reported' },
    );
    expect(engine).toMatchObject({ recovered: true, emergencyStop: false, definitions: { gate: { version: '1' } } });
  });

  it('starts scheduled workflows, and re-reads the twin after a dropped connection without re-auditing', async () => {
    h = await createHarness(PREFIX, ++counter);
    await h.startConnector();
    await h.startOrchestrator();
    const version = await h.deploy({ tick, gate });
    await waitForAck(h, 'tick', version);
    await waitFor(
      async () => {
        const items = (await h!.invoke('listInstances', { workflowId: 'tick' })).payload['items'] as {
          status: string;
        }[];
        return items.length >= 2 && items.every((i) => i.status === 'succeeded');
      },
      { timeoutMs: 10_000, description: 'scheduled runs' },
    );
    // Stop the schedule.
    const off = await h.deploy({ tick: null });
    await waitFor(async () => (await h!.ackOf('tick')) === undefined, {
      timeoutMs: 10_000,
      description: `tick removed (${off})`,
    });

    await h.hub.control.dropConnections();
    const v2 = await h.deploy({ gate: { ...gate, version: '2' } });
    const ack = await waitForAck(h, 'gate', v2, 20_000);
    expect(ack).toMatchObject({ ac: 200, value: { version: '2' } });
    const started = await h.invoke('startWorkflow', { workflowId: 'gate' });
    expect(started.payload['workflowVersion']).toBe('2');
    const deploys = await waitFor(
      async () => {
        const records = (await h!.upstream('audit')).filter(
          (r) => r['action'] === 'definition.deploy' && (r['target'] as { id: string }).id === 'gate',
        );
        return records.length >= 2 ? records : undefined;
      },
      { timeoutMs: 10_000, description: 'deploy records' },
    );
    // Version 1 and version 2: the full twin after the reconnect re-applied gate without a new record.
    expect(deploys.map((r) => (r['after'] as { version: string }).version)).toEqual(['1', '2']);
  });
});
