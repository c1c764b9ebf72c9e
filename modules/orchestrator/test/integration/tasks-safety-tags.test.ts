import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '@takt/test-support';
import { ADMIN, type Harness, createHarness, expectValidAuditRecords, waitForAck, waitForStatus } from './harness.js';

const PREFIX = '127.47.2';
let counter = 0;
let h: Harness | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
});

const release = {
  id: 'release',
  version: '1',
  parameters: { batch: { type: 'string', default: 'B-1' } },
  start: 'qa',
  steps: {
    qa: {
      type: 'approval',
      roles: ['qa'],
      instructions: 'Release batch {{ params.batch }}',
      meaning: 'Approved for release',
      next: 'done',
    },
    done: { type: 'succeed' },
  },
};

const reactor = {
  id: 'reactor',
  version: '1',
  resources: { reactor1: { kind: 'unit' } },
  requires: [{ resource: 'reactor1' }],
  onAbort: 'vent',
  start: 'hold',
  steps: {
    hold: { type: 'wait', event: 'go', next: 'done' },
    done: { type: 'succeed' },
    vent: {
      type: 'action',
      action: 'opcua.write',
      args: { nodeId: 'ns=2;s=Reactor1.Vent', value: true },
      inDoubt: 'idempotent',
      end: true,
    },
  },
};

const heat = {
  id: 'heat',
  version: '1',
  triggers: [{ kind: 'tag', tags: ['Level'], condition: '{{ tags.Level > 50 }}', deadband: 1 }],
  start: 'warm',
  steps: {
    warm: { type: 'wait', condition: '{{ tags.Temp >= 60 }}', tags: ['Temp'], next: 'done' },
    done: { type: 'succeed' },
  },
};

const settings = {
  defaultEndpointUrl: 'opc.tcp://plant:4840',
  tags: [
    { name: 'Level', nodeId: 'nsu=urn:takt:opcua-plant;s=Tank.Level' },
    { name: 'Temp', nodeId: 'nsu=urn:takt:opcua-plant;s=Tank.Temp' },
  ],
};

async function login(port: number, user: string, password: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user, password }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

describe('orchestrator: approvals, emergency stop, tags', () => {
  it('approval needs the right password and role, and the e-signature lands in the audit record', async () => {
    h = await createHarness(PREFIX, ++counter);
    await h.startConnector();
    const module = await h.startOrchestrator();
    const port = module.http.port();
    const version = await h.deploy({ release });
    await waitForAck(h, 'release', version);

    // Users through the HTTP API (admin from the environment secret).
    const adminToken = await login(port, ADMIN.user, ADMIN.password);
    for (const user of [
      { name: 'quinn', password: 'quinn-pass-1', roles: ['operator', 'qa'] },
      { name: 'otto', password: 'otto-pass-1', roles: ['operator'] },
    ]) {
      const res = await fetch(`http://127.0.0.1:${port}/api/users`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
        body: JSON.stringify(user),
      });
      expect(res.status).toBe(201);
    }
    const started = await h.invoke('startWorkflow', { workflowId: 'release', parameters: { batch: 'B-9' } });
    const instanceId = String(started.payload['instanceId']);
    const tasks = await waitFor(
      async () => {
        const answer = await h!.invoke('listTasks', { instanceId });
        const items = answer.payload['items'] as { taskId: string; roles: string[] }[];
        return items.length > 0 ? items : undefined;
      },
      { timeoutMs: 10_000, description: 'approval task' },
    );
    expect(tasks[0]?.roles).toEqual(['qa']);

    const base = { instanceId, meaning: 'Approved for release', reason: 'weights in spec' };
    const wrongPassword = await h.invoke('approve', { ...base, user: 'quinn', password: 'nope-nope-1' });
    expect(wrongPassword.payload['code']).toBe('ORCH_AUTH_FAILED');
    const wrongRole = await h.invoke('approve', { ...base, user: 'otto', password: 'otto-pass-1' });
    expect(wrongRole.payload['code']).toBe('ORCH_FORBIDDEN');
    const noReason = await h.invoke('approve', { instanceId, user: 'quinn', password: 'quinn-pass-1' });
    expect(noReason.payload['code']).toBe('ORCH_SIGNATURE_INVALID');
    expect((await h.invoke('getInstance', { instanceId })).payload['status']).toBe('running');

    // The right one, through the console (session user = signer, password re-entered).
    const quinnToken = await login(port, 'quinn', 'quinn-pass-1');
    const inbox = (await (
      await fetch(`http://127.0.0.1:${port}/api/tasks`, { headers: { authorization: `Bearer ${quinnToken}` } })
    ).json()) as { items: { taskId: string }[] };
    expect(inbox.items).toHaveLength(1);
    const approve = await fetch(`http://127.0.0.1:${port}/api/tasks/${inbox.items[0]?.taskId}/approve`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${quinnToken}` },
      body: JSON.stringify({ password: 'quinn-pass-1', reason: 'weights in spec' }),
    });
    expect(approve.status).toBe(200);
    await waitForStatus(h, instanceId, 'succeeded');
    const audit = await waitFor(
      async () => (await h!.upstream('audit')).find((r) => r['action'] === 'approval.approve'),
      { timeoutMs: 10_000, description: 'approval audit' },
    );
    expect(audit).toMatchObject({
      actor: { type: 'user', id: 'quinn' },
      reason: 'weights in spec',
      signature: { signer: 'quinn', meaning: 'Approved for release', method: 'password' },
      correlation: { instanceId, workflowId: 'release', batchId: 'B-9', stepId: 'qa' },
    });
    expect(typeof (audit['signature'] as { time: unknown }).time).toBe('string');
    expectValidAuditRecords(await h.upstream('audit'));
    const refusals = (await h.upstream('audit')).filter((r) => r['action'] === 'approval.approve.refused');
    expect(refusals.map((r) => (r['actor'] as { id: string }).id).sort()).toEqual(['otto', 'quinn']);

    // Console: unauthenticated and under-privileged requests are refused; login is rate-limited.
    expect((await fetch(`http://127.0.0.1:${port}/api/instances`)).status).toBe(401);
    const forbidden = await fetch(`http://127.0.0.1:${port}/api/users`, {
      headers: { authorization: `Bearer ${quinnToken}` },
    });
    expect(forbidden.status).toBe(403);
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) {
      const res = await fetch(`http://127.0.0.1:${port}/api/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user: 'otto', password: 'wrong-wrong' }),
      });
      statuses.push(res.status);
    }
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses.at(-1)).toBe(429);
  });

  it('emergency stop drives instances with resources to their safe state and refuses starts until reset', async () => {
    h = await createHarness(PREFIX, ++counter);
    const connector = await h.startConnector();
    await h.startOrchestrator();
    const version = await h.deploy({ reactor, release }, { settings });
    await waitForAck(h, 'reactor', version);
    const a = String((await h.invoke('startWorkflow', { workflowId: 'reactor' })).payload['instanceId']);
    const b = String((await h.invoke('startWorkflow', { workflowId: 'release' })).payload['instanceId']);
    await waitFor(async () => (await h!.invoke('listTasks', { instanceId: b })).payload['items'] as unknown[], {
      timeoutMs: 10_000,
    });

    const stop = await h.invoke('emergencyStop', { reason: 'smoke in hall 2', actor: 'shift-lead' });
    expect(stop.status).toBe(200);
    expect(stop.payload).toMatchObject({ aborted: [a], held: [b], failed: [] });
    await waitForStatus(h, a, 'aborted');
    expect(connector.calls.find((c) => c.method === 'write')?.payload).toMatchObject({
      nodeId: 'ns=2;s=Reactor1.Vent',
      value: true,
    });
    await waitForStatus(h, b, 'held');

    const refused = await h.invoke('startWorkflow', { workflowId: 'release' });
    expect(refused.payload['code']).toBe('ORCH_EMERGENCY_STOP');
    const restartRefused = await h.invoke('restart', { instanceId: b });
    expect(restartRefused.payload['code']).toBe('ORCH_EMERGENCY_STOP');
    const alerts = await waitFor(
      async () => (await h!.upstream('alerts')).find((m) => m['code'] === 'ORCH_EMERGENCY_STOP'),
      { timeoutMs: 10_000 },
    );
    expect(alerts['severity']).toBe('critical');
    expectValidAuditRecords(await h.upstream('audit'));

    expect((await h.invoke('reset', { reason: 'hall cleared' })).status).toBe(200);
    const after = await h.invoke('startWorkflow', { workflowId: 'release' });
    expect(after.payload['created']).toBe(true);
    expect((await h.invoke('restart', { instanceId: b })).payload['status']).toBe('running');
  });

  it('a tag condition starts an instance and a wait for a condition completes on a tag change', async () => {
    h = await createHarness(PREFIX, ++counter);
    const connector = await h.startConnector();
    await h.startOrchestrator();
    const version = await h.deploy({ heat }, { settings });
    await waitForAck(h, 'heat', version);
    // The orchestrator asked the connector to watch the trigger's tag.
    await waitFor(() => connector.watched.has('nsu=urn:takt:opcua-plant;s=Tank.Level'), { timeoutMs: 10_000 });

    connector.setTag('nsu=urn:takt:opcua-plant;s=Tank.Level', 20);
    connector.setTag('nsu=urn:takt:opcua-plant;s=Tank.Level', 80);
    const list = await waitFor(
      async () => {
        const items = (await h!.invoke('listInstances', { workflowId: 'heat' })).payload['items'] as {
          instanceId: string;
        }[];
        return items.length > 0 ? items : undefined;
      },
      { timeoutMs: 10_000, description: 'tag-triggered instance' },
    );
    const instanceId = String(list[0]?.instanceId);
    // Still true, within the deadband: edge-triggered, no second start.
    connector.setTag('nsu=urn:takt:opcua-plant;s=Tank.Level', 80.5);

    await waitFor(() => connector.watched.has('nsu=urn:takt:opcua-plant;s=Tank.Temp'), { timeoutMs: 10_000 });
    connector.setTag('nsu=urn:takt:opcua-plant;s=Tank.Temp', 40);
    connector.setTag('nsu=urn:takt:opcua-plant;s=Tank.Temp', 61);
    await waitForStatus(h, instanceId, 'succeeded');
    const all = (await h.invoke('listInstances', { workflowId: 'heat' })).payload['items'] as unknown[];
    expect(all).toHaveLength(1);
  });

  it('an interlock breach raises a critical alert and drives the instance to its safe state', async () => {
    h = await createHarness(PREFIX, ++counter);
    const connector = await h.startConnector();
    await h.startOrchestrator();
    const cooled = {
      id: 'cooled',
      version: '1',
      interlocks: [
        {
          condition: '{{ tags.CoolingOk = true }}',
          tags: ['CoolingOk'],
          onBreach: 'abort',
          message: 'Cooling water lost',
        },
      ],
      onAbort: 'vent',
      start: 'react',
      steps: {
        react: { type: 'wait', event: 'done', next: 'ok' },
        ok: { type: 'succeed' },
        vent: {
          type: 'action',
          action: 'opcua.write',
          args: { nodeId: 'ns=2;s=Vent', value: true },
          inDoubt: 'idempotent',
          end: true,
        },
      },
    };
    const coolingNode = 'nsu=urn:takt:opcua-plant;s=Reactor.CoolingOk';
    connector.values.set(coolingNode, true);
    const version = await h.deploy(
      { cooled },
      { settings: { ...settings, tags: [...settings.tags, { name: 'CoolingOk', nodeId: coolingNode }] } },
    );
    await waitForAck(h, 'cooled', version);
    const started = await h.invoke('startWorkflow', { workflowId: 'cooled' });
    expect(started.status).toBe(200);
    const instanceId = String(started.payload['instanceId']);
    expect((await h.invoke('getInstance', { instanceId })).payload['status']).toBe('running');
    await waitFor(() => connector.watched.has(coolingNode), { timeoutMs: 10_000 });

    connector.setTag(coolingNode, false);
    await waitForStatus(h, instanceId, 'aborted');
    expect(connector.calls.find((c) => c.method === 'write')?.payload).toMatchObject({
      nodeId: 'ns=2;s=Vent',
      value: true,
    });
    const alert = await waitFor(
      async () => (await h!.upstream('alerts')).find((a) => a['code'] === 'WF_INTERLOCK_BREACHED'),
      { timeoutMs: 10_000, description: 'interlock alert' },
    );
    expect(alert).toMatchObject({ severity: 'critical', instanceId });
    const status = await h.upstream('status');
    expect(
      status.some((e) => e['type'] === 'alert' && e['instanceId'] === instanceId && e['severity'] === 'critical'),
    ).toBe(true);
  });
});
