import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '@takt/test-support';
import { type Harness, createHarness, expectValidAuditRecords, waitForAck, waitForStatus } from './harness.js';

const PREFIX = '127.47.1';
let counter = 0;
let h: Harness | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
});

const dose = {
  id: 'dose',
  version: '1',
  parameters: { kg: { type: 'number', min: 1, max: 500, default: 10 }, batch: { type: 'string', default: 'B0' } },
  start: 'write',
  steps: {
    write: {
      type: 'action',
      action: 'opcua.write',
      args: { nodeId: 'ns=2;s=Doser.SP', value: '{{ params.kg }}' },
      inDoubt: 'readBack',
      retry: [{ errors: ['DEVICE_UNREACHABLE'], intervalMs: 50, maxAttempts: 3 }],
      next: 'read',
    },
    read: { type: 'action', action: 'opcua.read', args: { nodeId: 'ns=2;s=Doser.SP' }, resultVar: 'sp', next: 'done' },
    done: { type: 'succeed', output: { sp: '{{ vars.sp.value }}' } },
  },
};

const broken = {
  id: 'broken',
  version: '1',
  start: 'first',
  steps: { first: { type: 'action', action: 'opcua.read', args: { nodeId: 'x' }, next: 'nowhere' } },
};

describe('orchestrator: definitions from the twin, starts, outputs', () => {
  it('acknowledges a valid workflow 200 and an invalid one 400 with its problems; the valid one runs', async () => {
    h = await createHarness(PREFIX, ++counter);
    const connector = await h.startConnector();
    await h.startOrchestrator();
    const version = await h.deploy({ dose, broken });
    const ack = await waitForAck(h, 'dose', version);
    expect(ack).toMatchObject({ ac: 200, av: version, value: { version: '1' } });
    const bad = await waitForAck(h, 'broken', version);
    expect(bad['ac']).toBe(400);
    expect(String(bad['ad'])).toContain('STEP_REF_UNKNOWN');

    const started = await h.invoke('startWorkflow', {
      workflowId: 'dose',
      parameters: { kg: 42, batch: 'B-17' },
      idempotencyKey: 'k-1',
      correlationId: 'corr-1',
    });
    expect(started.status).toBe(200);
    expect(started.payload).toMatchObject({ created: true, workflowId: 'dose', workflowVersion: '1' });
    const instanceId = String(started.payload['instanceId']);
    const done = await waitForStatus(h, instanceId, 'succeeded');
    expect(done['output']).toEqual({ sp: 42 });
    expect(connector.calls.find((c) => c.method === 'write')?.payload).toMatchObject({
      nodeId: 'ns=2;s=Doser.SP',
      value: 42,
      verify: true,
    });

    // Idempotent start: the same key returns the same instance.
    const again = await h.invoke('startWorkflow', { workflowId: 'dose', idempotencyKey: 'k-1' });
    expect(again.payload).toMatchObject({ instanceId, created: false });

    // Status through the outbox and edgeHub: lifecycle and step events with per-instance seq.
    const status = await waitFor(
      async () => {
        const events = (await h!.upstream('status')).filter((e) => e['instanceId'] === instanceId);
        return events.some((e) => e['type'] === 'instance.completed') ? events : undefined;
      },
      { timeoutMs: 15_000, description: 'status events' },
    );
    expect(status.map((e) => e['seq'])).toEqual(status.map((_, i) => i + 1));
    expect(status[0]).toMatchObject({
      type: 'instance.started',
      workflowId: 'dose',
      workflowVersion: '1',
      state: 'running',
    });
    expect(status.map((e) => e['type'])).toEqual(
      expect.arrayContaining(['step.started', 'step.completed', 'instance.completed']),
    );
    for (const event of status) expect(typeof event['eventId']).toBe('string');

    // Audit: the definition deployment, the start, the device write.
    const audit = await waitFor(
      async () => {
        const records = await h!.upstream('audit');
        return records.some((r) => r['action'] === 'device.write') ? records : undefined;
      },
      { timeoutMs: 15_000, description: 'audit records' },
    );
    expect(audit.find((r) => r['action'] === 'definition.deploy')).toMatchObject({
      sourceModule: 'orchestrator',
      target: { type: 'workflow', id: 'dose' },
    });
    expect(audit.find((r) => r['action'] === 'instance.started')).toMatchObject({
      correlation: { instanceId, workflowId: 'dose', workflowVersion: '1', batchId: 'B-17' },
    });
    expect(audit.find((r) => r['action'] === 'device.write')).toMatchObject({
      after: 42,
      correlation: { instanceId, stepId: 'write' },
    });
    expect(audit.find((r) => r['action'] === 'batch.completed')).toMatchObject({ correlation: { batchId: 'B-17' } });
    expectValidAuditRecords(audit);

    // A later bad version of `dose` is refused; version 1 stays in force and keeps running.
    const v2 = await h.deploy({ dose: { ...dose, version: '2', start: 'missing' } });
    const refused = await waitForAck(h, 'dose', v2);
    expect(refused).toMatchObject({ ac: 400, value: { version: '1' } });
    const third = await h.invoke('startWorkflow', { workflowId: 'dose' });
    expect(third.payload['workflowVersion']).toBe('1');
    await waitForStatus(h, String(third.payload['instanceId']), 'succeeded');

    // A definition by reference: fetched from a file, verified by SHA-256, acknowledged, started.
    const { writeFile } = await import('node:fs/promises');
    const { createHash } = await import('node:crypto');
    const { pathToFileURL } = await import('node:url');
    const big = { ...dose, id: 'big', version: '7' };
    const bytes = Buffer.from(JSON.stringify(big));
    await writeFile(h.dir.join('big.json'), bytes);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const reference = { id: 'big', version: '7', uri: pathToFileURL(h.dir.join('big.json')).href, sha256 };
    const vRef = await h.deploy({ big: reference, wrong: { ...reference, id: 'wrong', sha256: '0'.repeat(64) } });
    const refAck = await waitFor(
      async () => {
        const a = await h!.ackOf('big');
        return a !== undefined && a['ac'] === 200 && a['av'] === vRef ? a : undefined;
      },
      { timeoutMs: 10_000, description: 'reference fetched and acknowledged' },
    );
    expect(refAck['value']).toMatchObject({ version: '7' });
    const wrongAck = await waitFor(
      async () => {
        const a = await h!.ackOf('wrong');
        return a !== undefined && String(a['ad']).includes('REFERENCE_') && !String(a['ad']).includes('PENDING')
          ? a
          : undefined;
      },
      { timeoutMs: 10_000, description: 'bad reference refused' },
    );
    expect(wrongAck['ac']).toBe(400);
    const fromRef = await h.invoke('startWorkflow', { workflowId: 'big', parameters: { kg: 3 } });
    expect(fromRef.payload['workflowVersion']).toBe('7');
    await waitForStatus(h, String(fromRef.payload['instanceId']), 'succeeded');

    // Deleting a workflow (null) stops new starts.
    const v3 = await h.deploy({ broken: null, dose: null });
    await waitFor(
      async () =>
        ((await h!.hub.control.twin('orchestrator')).reported['workflows'] as Record<string, unknown> | undefined)?.[
          'dose'
        ] === undefined,
      {
        timeoutMs: 10_000,
        description: `ack removed at ${v3}`,
      },
    );
    const gone = await h.invoke('startWorkflow', { workflowId: 'dose' });
    expect(gone.status).toBe(400);
    expect(gone.payload['code']).toBe('ORCH_WORKFLOW_UNKNOWN');
  });

  it('answers malformed payloads, twin values and inputs with coded errors and keeps running', async () => {
    h = await createHarness(PREFIX, ++counter);
    await h.startConnector();
    const module = await h.startOrchestrator();
    const mes = await h.startMes();

    const noId = await h.invoke('startWorkflow', { parameters: 'nope' });
    expect(noId.status).toBe(400);
    expect(noId.payload['code']).toBe('METHOD_PAYLOAD_INVALID');
    const unknownField = await h.invoke('hold', { instanceId: 'x', bogus: true });
    expect(unknownField.payload['code']).toBe('METHOD_PAYLOAD_INVALID');
    const missing = await h.invoke('getInstance', { instanceId: 'does-not-exist' });
    expect(missing.payload['code']).toBe('WF_INSTANCE_NOT_FOUND');
    const simulated = await h.invoke('simulateWorkflow', {
      definition: dose,
      params: { kg: 5 },
      responses: {
        write: { error: { code: 'DEVICE_UNREACHABLE', message: 'down', retryable: true } },
        read: { value: { value: 5 } },
      },
    });
    expect(simulated.payload).toMatchObject({ valid: true, status: 'failed', error: { code: 'DEVICE_UNREACHABLE' } });
    expect((simulated.payload['dispatched'] as unknown[]).length).toBe(3); // retry: 3 attempts
    const simulatedOk = await h.invoke('simulateWorkflow', {
      definition: dose,
      responses: { read: { value: { value: 10 } } },
    });
    expect(simulatedOk.payload).toMatchObject({ status: 'succeeded', output: { sp: 10 } });
    const badSim = await h.invoke('simulateWorkflow', { definition: dose, responses: { write: { bogus: 1 } } });
    expect(badSim.payload['code']).toBe('METHOD_PAYLOAD_INVALID');
    const estopNoReason = await h.invoke('emergencyStop', {});
    expect(estopNoReason.payload['code']).toBe('METHOD_PAYLOAD_INVALID');

    // Twin: a workflows value that is not an object of entries, a settings value of the wrong shape, a string definition.
    const version = await h.hub.control.patchDesired('orchestrator', {
      settings: { tags: 'not-a-list' },
      recipes: { r1: { parameters: 5 } },
      workflows: { text: 'not a definition' },
    });
    const twin = await waitFor(
      async () => {
        const t = await h!.hub.control.twin('orchestrator');
        const settings = t.reported['settings'] as Record<string, unknown> | undefined;
        return settings !== undefined && settings['av'] === version ? t : undefined;
      },
      { timeoutMs: 10_000, description: 'settings ack' },
    );
    expect(twin.reported['settings']).toMatchObject({ ac: 400 });
    expect((twin.reported['recipes'] as Record<string, unknown>)['r1']).toMatchObject({ ac: 400 });
    expect((twin.reported['workflows'] as Record<string, unknown>)['text']).toMatchObject({ ac: 400 });

    // A garbage order on the input: refused (logged), module keeps going; a good order starts.
    mes.outbox.append({ channel: 'orders', body: Buffer.from('{not json'), id: 'garbage-1' });
    mes.outbox.append({ channel: 'orders', body: { orderId: 'o-1' }, id: 'o-1' });
    const v2 = await h.deploy({ dose });
    await waitForAck(h, 'dose', v2);
    mes.outbox.append({
      channel: 'orders',
      body: { orderId: 'o-2', workflowId: 'dose', parameters: { kg: 7 } },
      id: 'o-2',
    });
    mes.outbox.append({
      channel: 'orders',
      body: { orderId: 'o-2', workflowId: 'dose', parameters: { kg: 7 } },
      id: 'o-2b',
    });
    const list = await waitFor(
      async () => {
        const answer = await h!.invoke('listInstances', { workflowId: 'dose' });
        const items = answer.payload['items'] as { status: string; correlationId: string }[];
        return items.length > 0 && items.every((i) => i.status === 'succeeded') ? items : undefined;
      },
      { timeoutMs: 15_000, description: 'order started' },
    );
    // Idempotent on orderId: one instance for two deliveries of order o-2.
    expect(list).toHaveLength(1);
    expect(list[0]?.correlationId).toBe('o-2');
    // An order without workflowId starts what a message trigger on `orders` matches.
    const cip = {
      id: 'cip',
      version: '1',
      parameters: { line: { type: 'string' } },
      triggers: [
        {
          kind: 'message',
          input: 'orders',
          filter: "{{ event.type = 'CIP' }}",
          parameters: { line: '{{ event.line }}' },
        },
      ],
      start: 'done',
      steps: { done: { type: 'succeed', output: { line: '{{ params.line }}' } } },
    };
    const v3 = await h.deploy({ cip });
    await waitForAck(h, 'cip', v3);
    mes.outbox.append({ channel: 'orders', body: { orderId: 'o-3', type: 'CIP', line: 'L4' }, id: 'o-3' });
    mes.outbox.append({ channel: 'orders', body: { orderId: 'o-4', type: 'Other' }, id: 'o-4' });
    const cipRun = await waitFor(
      async () => {
        const items = (await h!.invoke('listInstances', { workflowId: 'cip' })).payload['items'] as {
          instanceId: string;
        }[];
        return items[0];
      },
      { timeoutMs: 10_000, description: 'message-triggered instance' },
    );
    expect((await waitForStatus(h, cipRun.instanceId, 'succeeded'))['output']).toEqual({ line: 'L4' });
    const unmatched = await waitFor(
      async () => (await h!.upstream('alerts')).find((a) => String(a['message']).includes('o-4')),
      { timeoutMs: 10_000, description: 'unmatched order alert' },
    );
    expect(unmatched['code']).toBe('ORCH_WORKFLOW_UNKNOWN');
    expect(module.edge.state).toBe('connected');
    const health = await fetch(`http://127.0.0.1:${module.http.port()}/healthz`);
    expect(health.status).toBe(200);
  });
});
