import { afterEach, describe, expect, it } from 'vitest';
import { freePort, spawnTs, waitFor } from '@takt/test-support';
import { type Harness, createHarness, mainEntry, waitForAck, waitForStatus } from './harness.js';

const PREFIX = '127.47.3';
let counter = 0;
let h: Harness | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
});

const slow = {
  id: 'slow',
  version: '1',
  start: 'open',
  steps: {
    open: {
      type: 'action',
      action: 'opcua.write',
      args: { nodeId: 'ns=2;s=Valve', value: 1 },
      inDoubt: 'idempotent',
      next: 'soak',
    },
    soak: { type: 'wait', durationMs: 1500, next: 'close' },
    close: {
      type: 'action',
      action: 'opcua.write',
      args: { nodeId: 'ns=2;s=Valve', value: 0 },
      inDoubt: 'idempotent',
      next: 'settle',
    },
    settle: { type: 'wait', durationMs: 300, next: 'done' },
    done: { type: 'succeed' },
  },
};

describe('orchestrator: restart', () => {
  it('resumes an instance after SIGKILL; the status stream has no lost or reordered transitions', async () => {
    h = await createHarness(PREFIX, ++counter);
    const connector = await h.startConnector();
    const dataDir = h.dir.join('orchestrator-child');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(dataDir, { recursive: true });
    const env = async (): Promise<Record<string, string>> => ({
      ...h!.hub.moduleEnv('orchestrator'),
      TAKT_DATA_DIR: dataDir,
      TAKT_HTTP_HOST: '127.0.0.1',
      TAKT_HTTP_PORT: String(await freePort()),
      TAKT_METRICS_HOST: '127.0.0.1',
      TAKT_METRICS_PORT: '0',
      RuntimeLogLevel: 'info',
    });
    const first = spawnTs(mainEntry, [], { name: 'orchestrator-1', env: await env() });
    await first.waitForLine(/ ready /, 30_000);
    const version = await h.deploy({ slow });
    await waitForAck(h, 'slow', version);
    const started = await h.invoke('startWorkflow', { workflowId: 'slow' });
    expect(started.status).toBe(200);
    const instanceId = String(started.payload['instanceId']);
    // Kill it while the instance waits between the two writes.
    await waitFor(
      async () =>
        (await h!.upstream('status')).some((e) => e['instanceId'] === instanceId && e['type'] === 'step.completed'),
      { timeoutMs: 10_000, description: 'first step completed' },
    );
    expect(await first.kill()).toBe('SIGKILL');

    const second = spawnTs(mainEntry, [], { name: 'orchestrator-2', env: await env() });
    await second.waitForLine(/ ready /, 30_000);
    await waitForStatus(h, instanceId, 'succeeded', 20_000);
    expect(connector.calls.filter((c) => c.method === 'write').map((c) => c.payload['value'])).toEqual([1, 0]);

    const events = await waitFor(
      async () => {
        const all = (await h!.upstream('status')).filter((e) => e['instanceId'] === instanceId);
        return all.some((e) => e['type'] === 'instance.completed') ? all : undefined;
      },
      { timeoutMs: 15_000, description: 'completion event' },
    );
    // At-least-once delivery may repeat a message; de-duplicated by eventId the stream is gap-free and ordered.
    const seen = new Set<string>();
    const unique = events.filter((e) => {
      const id = String(e['eventId']);
      if (seen.has(id)) return false;
      seen.add(id);
      return true;
    });
    expect(unique.map((e) => e['seq'])).toEqual(unique.map((_, i) => i + 1));
    const label = (e: Record<string, unknown>): string =>
      typeof e['step'] === 'string' ? `${String(e['type'])}:${e['step']}` : String(e['type']);
    expect(unique.map(label)).toEqual([
      'instance.started',
      'step.started:open',
      'step.completed:open',
      'step.started:close',
      'step.completed:close',
      'instance.completed',
    ]);
    // The full twin read by the restarted module re-applies `slow` without a second deploy record.
    const deploys = (await h.upstream('audit')).filter((r) => r['action'] === 'definition.deploy');
    expect(deploys).toHaveLength(1);
    await second.stop();
  });

  it('asks an operator about a device write whose outcome a crash made unknown, then continues', async () => {
    h = await createHarness(PREFIX, ++counter);
    const connector = await h.startConnector();
    const dataDir = h.dir.join('orchestrator-child');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(dataDir, { recursive: true });
    const env = async (): Promise<Record<string, string>> => ({
      ...h!.hub.moduleEnv('orchestrator'),
      TAKT_DATA_DIR: dataDir,
      TAKT_HTTP_HOST: '127.0.0.1',
      TAKT_HTTP_PORT: String(await freePort()),
      TAKT_METRICS_HOST: '127.0.0.1',
      TAKT_METRICS_PORT: '0',
    });
    const dose = {
      id: 'charge',
      version: '1',
      start: 'open',
      steps: {
        open: { type: 'action', action: 'opcua.write', args: { nodeId: 'ns=2;s=Feed', value: 250 }, next: 'done' },
        done: { type: 'succeed' },
      },
    };
    const first = spawnTs(mainEntry, [], { name: 'orchestrator-1', env: await env() });
    await first.waitForLine(/ ready /, 30_000);
    const version = await h.deploy({ charge: dose });
    await waitForAck(h, 'charge', version);
    connector.hangWrites = true;
    const instanceId = String((await h.invoke('startWorkflow', { workflowId: 'charge' })).payload['instanceId']);
    await waitFor(() => connector.calls.some((c) => c.method === 'write'), { timeoutMs: 10_000 });
    await first.kill();
    connector.hangWrites = false;

    const second = spawnTs(mainEntry, [], { name: 'orchestrator-2', env: await env() });
    await second.waitForLine(/ ready /, 30_000);
    // Never silently repeated: the default policy (askOperator) opens an in-doubt task and raises an alert.
    const alert = await waitFor(
      async () =>
        (await h!.upstream('alerts')).find((a) => a['code'] === 'ORCH_IN_DOUBT' && a['instanceId'] === instanceId),
      { timeoutMs: 15_000, description: 'in-doubt alert' },
    );
    expect(alert['severity']).toBe('critical');
    expect(connector.calls.filter((c) => c.method === 'write')).toHaveLength(1);
    // the task tells the operator what to check: the action and the node it wrote
    const tasks = (await h.invoke('listTasks', { instanceId })).payload['items'] as Record<string, unknown>[];
    expect(tasks).toHaveLength(1);
    expect(tasks[0]).toMatchObject({ taskId: alert['taskId'], kind: 'inDoubt', stepId: 'open' });
    expect(tasks[0]?.['details']).toMatchObject({ action: 'opcua.write', args: { nodeId: 'ns=2;s=Feed', value: 250 } });
    const answer = await h.invoke('resolveInDoubt', {
      instanceId,
      taskId: String(alert['taskId']),
      outcome: 'succeeded',
      reason: 'checked the feed counter on the HMI',
      actor: 'shift-lead',
    });
    expect(answer.status).toBe(200);
    await waitForStatus(h, instanceId, 'succeeded');
    expect(connector.calls.filter((c) => c.method === 'write')).toHaveLength(1);
    const record = await waitFor(
      async () => (await h!.upstream('audit')).find((r) => r['action'] === 'device.inDoubt.resolved'),
      { timeoutMs: 10_000 },
    );
    expect(record).toMatchObject({ actor: { id: 'shift-lead' }, after: { outcome: 'succeeded', stepId: 'open' } });
    await second.stop();
  });
});
