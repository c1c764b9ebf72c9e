import { type TempDir, createTempDir, waitFor } from '@takt/test-support';
import type { Json, WorkflowDefinition } from '@takt/workflow';
import { afterEach, describe, expect, it } from 'vitest';
import { type DispatchCommand, type NotifyCommand, type Runner, createRunner, replay } from '../../src/index.js';
import { threeStep } from '../fixtures/workflows.js';

const open: Runner[] = [];
const dirs: TempDir[] = [];
afterEach(async () => {
  for (const runner of open.splice(0)) await runner.close();
  for (const dir of dirs.splice(0)) await dir.remove();
});

async function tempDir(): Promise<TempDir> {
  const dir = await createTempDir('takt-runner-');
  dirs.push(dir);
  return dir;
}

const arithmetic = (command: DispatchCommand): Promise<Json> => {
  const x = command.args['x'] as number;
  const op = command.args['op'];
  return Promise.resolve(op === 'add1' ? x + 1 : op === 'double' ? x * 2 : x + 3);
};

async function openRunner(
  file: string,
  dispatch: (c: DispatchCommand) => Promise<Json | undefined> = arithmetic,
  extra: { now?: () => number; notify?: (c: NotifyCommand) => Promise<void> } = {},
): Promise<Runner> {
  const runner = createRunner({ file, dispatch, ...extra });
  open.push(runner);
  await runner.start();
  return runner;
}

describe('runner', () => {
  it('runs, persists, answers queries with history, and starts idempotently', async () => {
    const dir = await tempDir();
    const runner = await openRunner(dir.join('e.db'));
    const hash = runner.register(threeStep);
    expect(runner.register(threeStep)).toBe(hash);
    const first = await runner.startInstance({ workflowId: 'three-step', params: { x: 1 }, idempotencyKey: 'order-1' });
    const again = await runner.startInstance({ workflowId: 'three-step', params: { x: 1 }, idempotencyKey: 'order-1' });
    expect(again).toEqual({ instanceId: first.instanceId, created: false });
    const final = await runner.waitForEnd(first.instanceId);
    expect(final.status).toBe('succeeded');
    const view = runner.query(first.instanceId, { history: true });
    expect(view.output).toEqual({ result: 7 });
    expect(view.definitionHash).toBe(hash);
    expect(view.history?.map((h) => h.event.type)).toEqual(['start', 'result', 'result', 'result']);
    expect(
      await replay(
        threeStep,
        view.history!.map((h) => h.event),
      ),
    ).toEqual(view.state);
    await expect(runner.signal(first.instanceId, 'x')).rejects.toMatchObject({ code: 'WF_INVALID_TRANSITION' });
    await expect(runner.signal('nope', 'x')).rejects.toMatchObject({ code: 'WF_INSTANCE_NOT_FOUND' });
    await expect(runner.startInstance({ workflowId: 'nope' })).rejects.toMatchObject({
      code: 'WF_DEFINITION_NOT_FOUND',
    });
    await expect(runner.startInstance({ workflowId: 'three-step', params: {} })).rejects.toMatchObject({
      code: 'WF_PARAMETER_INVALID',
    });
    expect(() => runner.register({ id: 'bad' })).toThrow(expect.objectContaining({ code: 'WF_DEFINITION_INVALID' }));
  });

  it('keeps a running instance on its definition version', async () => {
    const dir = await tempDir();
    const gate: WorkflowDefinition = {
      id: 'gate',
      version: '1',
      start: 'w',
      steps: {
        w: { type: 'wait', event: 'go', next: 'v' },
        v: { type: 'action', action: 'set', args: { v: 1 }, end: true },
      },
    };
    const runner = await openRunner(dir.join('e.db'));
    runner.register(gate);
    const { instanceId } = await runner.startInstance({ workflowId: 'gate' });
    const v2 = structuredClone(gate);
    v2.version = '2';
    v2.steps['v'] = { type: 'action', action: 'set', args: { v: 2 }, end: true };
    runner.register(v2);
    await runner.signal(instanceId, 'go');
    expect((await runner.waitForEnd(instanceId)).vars).toEqual({ v: 1 });
    const second = await runner.startInstance({ workflowId: 'gate' });
    await runner.signal(second.instanceId, 'go');
    expect((await runner.waitForEnd(second.instanceId)).vars).toEqual({ v: 2 });
  });

  it('fires a durable timer after a restart, late, by its policy', async () => {
    const dir = await tempDir();
    let clock = Date.UTC(2026, 10, 25, 12);
    const def: WorkflowDefinition = {
      id: 'timers',
      version: '1',
      start: 'route',
      parameters: { late: { type: 'string' } },
      steps: {
        route: {
          type: 'choice',
          choices: [{ when: "{{ params.late = 'fail' }}", next: 'strict' }],
          default: 'lenient',
        },
        lenient: { type: 'wait', durationMs: 60_000, next: 'done' },
        strict: { type: 'wait', durationMs: 60_000, onLate: 'fail', lateToleranceMs: 1_000, next: 'done' },
        done: { type: 'succeed' },
      },
    };
    const first = await openRunner(dir.join('e.db'), arithmetic, { now: () => clock });
    first.register(def);
    const lenient = await first.startInstance({ workflowId: 'timers', params: { late: 'fire' } });
    const strict = await first.startInstance({ workflowId: 'timers', params: { late: 'fail' } });
    await first.close();
    clock += 3_600_000; // off for an hour
    const second = await openRunner(dir.join('e.db'), arithmetic, { now: () => clock });
    expect((await second.waitForEnd(lenient.instanceId)).status).toBe('succeeded');
    const failed = await second.waitForEnd(strict.instanceId);
    expect(failed.status).toBe('failed');
    expect(failed.error?.code).toBe('WF_DEADLINE_MISSED');
  });

  it('arbitrates a unit between competing instances by priority and releases it on every exit', async () => {
    const dir = await tempDir();
    const order: string[] = [];
    const def: WorkflowDefinition = {
      id: 'unit',
      version: '1',
      parameters: { name: { type: 'string' }, priority: { type: 'integer' }, fail: { type: 'boolean' } },
      resources: { reactor: { kind: 'unit' } },
      start: 'use',
      steps: {
        use: {
          type: 'action',
          action: 'invoke',
          args: { name: '{{ params.name }}', fail: '{{ params.fail }}' },
          requires: [{ resource: 'reactor', priority: 0 }],
          end: true,
        },
      },
    };
    const prioritized = structuredClone(def);
    prioritized.id = 'unit-vip';
    (prioritized.steps['use'] as { requires: { resource: string; priority: number }[] }).requires = [
      { resource: 'reactor', priority: 10 },
    ];
    let release: (() => void) | undefined;
    const firstHeld = new Promise<void>((resolve) => (release = resolve));
    const runner = await openRunner(dir.join('e.db'), async (c) => {
      order.push(c.args['name'] as string);
      if (c.args['name'] === 'A') await firstHeld;
      if (c.args['fail'] === true)
        throw Object.assign(new Error('boom'), { code: 'DEVICE_BAD_STATUS', retryable: false });
      return null;
    });
    runner.register(def);
    runner.register(prioritized);
    const a = await runner.startInstance({ workflowId: 'unit', params: { name: 'A', priority: 0, fail: true } });
    await waitFor(() => order.length === 1);
    const b = await runner.startInstance({ workflowId: 'unit', params: { name: 'B', priority: 0, fail: false } });
    const c = await runner.startInstance({ workflowId: 'unit-vip', params: { name: 'C', priority: 10, fail: false } });
    expect(runner.query(b.instanceId).currentSteps[0]?.activity).toBe('acquiring');
    release?.();
    for (const id of [a, b, c]) await runner.waitForEnd(id.instanceId);
    expect(order).toEqual(['A', 'C', 'B']); // A failed and still released the unit; C outranks B
    expect(runner.query(a.instanceId).status).toBe('failed');
  });

  it('runs sub-workflows, approvals and signals through the runner; notifications survive a restart', async () => {
    const dir = await tempDir();
    const child: WorkflowDefinition = {
      id: 'child',
      version: '1',
      parameters: { n: { type: 'number' } },
      outputs: { twice: { value: '{{ params.n * 2 }}' } },
      start: 'done',
      steps: { done: { type: 'succeed' } },
    };
    const parent: WorkflowDefinition = {
      id: 'parent',
      version: '1',
      start: 'sub',
      steps: {
        sub: { type: 'subworkflow', workflow: 'child', parameters: { n: 21 }, resultVar: 'sub', next: 'ok' },
        ok: { type: 'approval', roles: ['qa'], instructions: 'Sign.', signature: false, next: 'sig' },
        sig: { type: 'wait', event: 'released', resultVar: 'released', end: true },
      },
    };
    const delivered: NotifyCommand[] = [];
    let failNotify = true;
    const notify = (command: NotifyCommand): Promise<void> => {
      if (failNotify) return Promise.reject(new Error('edgeHub offline'));
      delivered.push(command);
      return Promise.resolve();
    };
    const first = await openRunner(dir.join('e.db'), arithmetic, { notify });
    first.register(child);
    first.register(parent);
    const { instanceId } = await first.startInstance({ workflowId: 'parent' });
    const task = await waitFor(() => first.query(instanceId).openTasks[0]);
    expect(first.query(instanceId).vars['sub']).toEqual({ twice: 42 });
    await first.close();
    failNotify = false;
    const second = await openRunner(dir.join('e.db'), arithmetic, { notify });
    await waitFor(() => delivered.some((c) => c.type === 'task.open'));
    await second.approve(instanceId, task, { user: 'q', role: 'qa' });
    await second.signal(instanceId, 'released', { lot: 'L7' });
    const final = await second.waitForEnd(instanceId);
    expect(final.status).toBe('succeeded');
    expect(final.vars['released']).toEqual({ lot: 'L7' });
    await waitFor(() => delivered.some((c) => c.type === 'status' && c.status === 'succeeded'));
  });

  it('cancel compensates and abort runs the safe state through the runner', async () => {
    const dir = await tempDir();
    const def: WorkflowDefinition = {
      id: 'verbs',
      version: '1',
      onAbort: 'safe',
      start: 'a',
      steps: {
        a: { type: 'action', action: 'invoke', args: { op: 'a' }, compensate: 'undo', next: 'w' },
        w: { type: 'wait', event: 'never', end: true },
        undo: { type: 'action', action: 'invoke', args: { op: 'undo' }, end: true },
        safe: { type: 'action', action: 'invoke', args: { op: 'safe' }, end: true },
      },
    };
    const ops: string[] = [];
    const runner = await openRunner(dir.join('e.db'), (c) => {
      ops.push(c.args['op'] as string);
      return Promise.resolve(null);
    });
    runner.register(def);
    const one = await runner.startInstance({ workflowId: 'verbs' });
    const two = await runner.startInstance({ workflowId: 'verbs' });
    await waitFor(() => runner.query(one.instanceId).currentSteps[0]?.stepId === 'w');
    await waitFor(() => runner.query(two.instanceId).currentSteps[0]?.stepId === 'w');
    await runner.hold(one.instanceId, { user: 'op' });
    expect(runner.query(one.instanceId).status).toBe('held');
    await runner.cancel(one.instanceId, { reason: 'order withdrawn' });
    await runner.abort(two.instanceId, { reason: 'e-stop' });
    expect((await runner.waitForEnd(one.instanceId)).status).toBe('cancelled');
    expect((await runner.waitForEnd(two.instanceId)).status).toBe('aborted');
    expect(ops.sort()).toEqual(['a', 'a', 'safe', 'undo']);
  });

  it('runs a phase on a unit the instance already holds, with the unit reporting through phaseState', async () => {
    const dir = await tempDir();
    const def: WorkflowDefinition = {
      id: 'reactor',
      version: '1',
      resources: { reactor1: { kind: 'unit' } },
      requires: [{ resource: 'reactor1', priority: 10 }],
      start: 'react',
      steps: { react: { type: 'phase', unit: 'reactor1', phase: 'React', resultVar: 'r', end: true } },
    };
    const started: DispatchCommand[] = [];
    const runner = await openRunner(dir.join('e.db'), (c) => {
      if (c.action === 'phase.start') started.push(c);
      return Promise.resolve(null);
    });
    runner.register(def);
    const { instanceId } = await runner.startInstance({ workflowId: 'reactor' });
    await waitFor(() => started.length === 1 && runner.query(instanceId).currentSteps[0]?.activity === 'phase');
    await runner.phaseState(instanceId, started[0]!.commandId, 'Complete', { yield: 0.97 });
    const final = await runner.waitForEnd(instanceId);
    expect(final.status).toBe('succeeded');
    expect(final.vars['r']).toEqual({ yield: 0.97 });
  });

  it('has no history cliff: a long instance is compacted into snapshots and recovers from them', async () => {
    const dir = await tempDir();
    const def: WorkflowDefinition = {
      id: 'ticker',
      version: '1',
      variables: { n: 0 },
      start: 'tick',
      steps: {
        tick: { type: 'wait', event: 'tick', next: 'count' },
        count: { type: 'action', action: 'set', args: { n: '{{ vars.n + 1 }}' }, next: 'more' },
        more: { type: 'choice', choices: [{ when: '{{ vars.n < 1000 }}', next: 'tick' }], default: 'done' },
        done: { type: 'succeed' },
      },
    };
    const first = await openRunner(dir.join('e.db'));
    first.register(def);
    const { instanceId } = await first.startInstance({ workflowId: 'ticker' });
    for (let i = 0; i < 300; i++) await first.signal(instanceId, 'tick');
    const before = first.query(instanceId).state;
    const compacted = first.compact({ keepEvents: 10 });
    expect(compacted.journalRows).toBeGreaterThan(200);
    expect(first.query(instanceId, { history: true }).history!.length).toBeLessThan(80);
    await first.close();
    const second = await openRunner(dir.join('e.db'));
    expect(second.query(instanceId).state).toEqual(before);
    await second.signal(instanceId, 'tick');
    expect(second.query(instanceId).vars['n']).toBe(301);
    await second.cancel(instanceId);
    await second.waitForEnd(instanceId);
    expect(second.compact({ endedBeforeMs: Date.now() + 1 }).instances).toBe(1);
    expect(() => second.query(instanceId)).toThrow(expect.objectContaining({ code: 'WF_INSTANCE_NOT_FOUND' }));
  });

  it('honours AbortSignals and refuses work once closed', async () => {
    const dir = await tempDir();
    const def: WorkflowDefinition = {
      id: 'forever',
      version: '1',
      start: 'w',
      steps: { w: { type: 'wait', event: 'never', end: true } },
    };
    const runner = createRunner({ file: dir.join('e.db'), dispatch: arithmetic });
    await runner.start();
    runner.register(def);
    const { instanceId } = await runner.startInstance({ workflowId: 'forever' });
    const controller = new AbortController();
    const waiting = runner.waitForEnd(instanceId, { signal: controller.signal });
    controller.abort(new Error('caller gave up'));
    await expect(waiting).rejects.toThrow('caller gave up');
    const pending = runner.waitForEnd(instanceId);
    await runner.close();
    await expect(pending).rejects.toMatchObject({ code: 'WF_RUNNER_CLOSED' });
    await expect(runner.signal(instanceId, 'never')).rejects.toMatchObject({ code: 'WF_RUNNER_CLOSED' });
    await runner.close(); // idempotent
  });
});
