import type { WorkflowDefinition } from '@takt/workflow';
import { describe, expect, it } from 'vitest';
import { retryDelayMs } from '../../src/index.js';
import { batchWorkflow, threeStep } from '../fixtures/workflows.js';
import { Drive, err, run } from './helpers.js';

const arith = {
  '*': (c: { args: Record<string, unknown> }) => {
    const x = c.args['x'] as number;
    const op = c.args['op'];
    return { value: op === 'add1' ? x + 1 : op === 'double' ? x * 2 : x + 3 };
  },
};

describe('action, set, succeed, fail', () => {
  it('runs the 3-step workflow and evaluates outputs', async () => {
    const r = await run(threeStep, { params: { x: 4 }, responses: arith });
    expect(r.status).toBe('succeeded');
    expect(r.output).toEqual({ result: 13 });
    expect(r.dispatched.map((d) => d.idempotencyKey)).toEqual([
      'sim-1:t0:add:1',
      'sim-1:t0:double:1',
      'sim-1:t0:plus3:1',
    ]);
  });

  it('set assigns variables; fail ends with its code and message', async () => {
    const def: WorkflowDefinition = {
      id: 'f',
      version: '1',
      errors: { TOO_HOT: { summary: 'too hot' } },
      start: 'set',
      steps: {
        set: { type: 'action', action: 'set', args: { t: 95, label: 'T={{ 90 + 5 }}' }, next: 'boom' },
        boom: { type: 'fail', error: 'TOO_HOT', message: 'temperature {{ vars.t }}' },
      },
    };
    const r = await run(def);
    expect(r.status).toBe('failed');
    expect(r.vars).toEqual({ t: 95, label: 'T=95' });
    expect(r.error).toMatchObject({ code: 'TOO_HOT', message: 'temperature 95', stepId: 'boom' });
  });

  it('rejects bad start parameters and oversized variables with codes', async () => {
    await expect(run(threeStep, { params: { x: 'nope' } })).rejects.toMatchObject({ code: 'WF_PARAMETER_INVALID' });
    await expect(run(threeStep, { params: {} })).rejects.toMatchObject({ code: 'WF_PARAMETER_INVALID' });
    const big: WorkflowDefinition = {
      id: 'big',
      version: '1',
      start: 'a',
      steps: { a: { type: 'action', action: 'invoke', resultVar: 'blob', end: true } },
    };
    const r = await run(big, { responses: { a: { value: 'x'.repeat(70_000) } } });
    expect(r.error?.code).toBe('WF_VARIABLE_TOO_LARGE');
  });
});

describe('choice and wait', () => {
  const def: WorkflowDefinition = {
    id: 'cw',
    version: '1',
    parameters: { mode: { type: 'string', enum: ['timer', 'until', 'tag', 'event', 'late'] } },
    start: 'route',
    steps: {
      route: {
        type: 'choice',
        choices: [
          { when: "{{ params.mode = 'timer' }}", next: 'timer' },
          { when: "{{ params.mode = 'until' }}", next: 'until' },
          { when: "{{ params.mode = 'tag' }}", next: 'tag' },
          { when: "{{ params.mode = 'event' }}", next: 'event' },
          { when: "{{ params.mode = 'late' }}", next: 'late' },
        ],
      },
      timer: { type: 'wait', durationMs: 7_200_000, next: 'done' },
      until: { type: 'wait', until: '{{ $millis() + 60000 }}', next: 'done' },
      tag: { type: 'wait', condition: '{{ tags.level > 80 }}', tags: ['level'], resultVar: 'reached', next: 'done' },
      event: { type: 'wait', event: 'released', resultVar: 'release', next: 'done' },
      late: { type: 'wait', durationMs: 1000, onLate: 'fail', lateToleranceMs: 100, next: 'done' },
      done: { type: 'succeed' },
    },
  };

  it('waits two hours of virtual time in milliseconds', async () => {
    const began = performance.now();
    const r = await run(def, { params: { mode: 'timer' } });
    expect(r.status).toBe('succeeded');
    expect(r.virtualMs).toBe(7_200_000);
    expect(performance.now() - began).toBeLessThan(2_000);
    expect(r.trace.length).toBeGreaterThan(1);
  });

  it('waits until a deadline from an expression', async () => {
    const r = await run(def, { params: { mode: 'until' } });
    expect(r.virtualMs).toBe(60_000);
  });

  it('waits for a tag condition and watches its tags', async () => {
    const r = await run(def, {
      params: { mode: 'tag' },
      events: [
        { atMs: 10, event: { type: 'tags', values: { level: 50 } } },
        { atMs: 20, event: { type: 'tags', values: { level: 85 } } },
      ],
    });
    expect(r.status).toBe('succeeded');
    expect(r.virtualMs).toBe(20);
    expect(r.trace[0]?.commands).toContainEqual({ type: 'watch', instanceId: 'sim-1', tags: ['level'] });
  });

  it('waits for a signal, also one that arrived early', async () => {
    const r = await run(def, {
      params: { mode: 'event' },
      events: [{ atMs: 30, event: { type: 'signal', name: 'released', payload: { by: 'qa' } } }],
    });
    expect(r.vars['release']).toEqual({ by: 'qa' });
    const d = await new Drive(def).start({ mode: 'event' });
    expect(d.s.status).toBe('running');
    await d.send({ type: 'signal', name: 'released', payload: 1 });
    expect(d.s.status).toBe('succeeded');
  });

  it('fails a late timer when onLate is fail (deadline missed while off)', async () => {
    const d = await new Drive(def).start({ mode: 'late' });
    const [timerId, timer] = Object.entries(d.s.timers)[0]!;
    d.now = timer.dueAtMs + 5_000; // the engine was off
    await d.send({ type: 'timer', timerId });
    expect(d.s.status).toBe('failed');
    expect(d.s.error?.code).toBe('WF_DEADLINE_MISSED');
    await d.replayMatches();
  });

  it('fails a choice without match or default', async () => {
    const def2: WorkflowDefinition = {
      id: 'c',
      version: '1',
      start: 'c',
      steps: { c: { type: 'choice', choices: [{ when: '{{ false }}', next: 'd' }] }, d: { type: 'succeed' } },
    };
    expect((await run(def2)).error?.code).toBe('WF_NO_CHOICE_MATCHED');
  });
});

describe('parallel and forEach', () => {
  const par = (join: 'all' | 'any' | number): WorkflowDefinition => ({
    id: 'p',
    version: '1',
    start: 'p',
    steps: {
      p: { type: 'parallel', branches: ['a', 'b', 'c'], join, resultVar: 'r', next: 'done' },
      a: { type: 'action', action: 'invoke', args: { n: 1 }, end: true },
      b: { type: 'action', action: 'invoke', args: { n: 2 }, end: true },
      c: { type: 'action', action: 'invoke', args: { n: 3 }, end: true },
      done: { type: 'succeed' },
    },
  });
  const timed = {
    '*': (c: { args: Record<string, unknown> }) => ({
      value: c.args['n'] as number,
      delayMs: (c.args['n'] as number) * 10,
    }),
  };

  it('joins all, any and n of the branches', async () => {
    expect((await run(par('all'), { responses: timed })).vars['r']).toEqual([1, 2, 3]);
    const any = await run(par('any'), { responses: timed });
    expect(any.vars['r']).toEqual([1, null, null]);
    expect(any.virtualMs).toBe(10);
    const two = await run(par(2), { responses: timed });
    expect(two.vars['r']).toEqual([1, 2, null]);
    expect(two.virtualMs).toBe(20);
  });

  it('fails the parallel step when a branch fails under join all', async () => {
    const r = await run(par('all'), { responses: { ...timed, b: { error: err('DEVICE_BAD_STATUS') } } });
    expect(r.status).toBe('failed');
    expect(r.error?.code).toBe('DEVICE_BAD_STATUS');
  });

  it('runs forEach with a concurrency limit and keeps result order', async () => {
    const def: WorkflowDefinition = {
      id: 'fe',
      version: '1',
      start: 'loop',
      steps: {
        loop: {
          type: 'forEach',
          items: '{{ [5, 3, 8, 1, 2] }}',
          iterator: 'body',
          concurrency: 2,
          resultVar: 'out',
          end: true,
        },
        body: { type: 'action', action: 'invoke', args: { v: '{{ item }}', i: '{{ index }}' }, end: true },
      },
    };
    let inFlight = 0;
    let maxInFlight = 0;
    const r = await run(def, {
      responses: {
        body: (c) => {
          inFlight += 1;
          maxInFlight = Math.max(maxInFlight, inFlight);
          return { value: (c.args['v'] as number) * 10, delayMs: c.args['v'] as number };
        },
      },
    });
    expect(r.vars['out']).toEqual([50, 30, 80, 10, 20]);
    // Count overlapping dispatches on the virtual timeline.
    const events = r.trace.filter((t) => t.event.type === 'result' || t.commands.some((c) => c.type === 'dispatch'));
    let live = 0;
    let peak = 0;
    for (const t of events) {
      if (t.event.type === 'result') live -= 1;
      live += t.commands.filter((c) => c.type === 'dispatch').length;
      peak = Math.max(peak, live);
    }
    expect(peak).toBeLessThanOrEqual(2);
    expect(inFlight).toBe(5);
  });
});

describe('subworkflow, approval, phase', () => {
  it('starts a child and takes its output; a failed child fails the step', async () => {
    const def: WorkflowDefinition = {
      id: 'parent',
      version: '1',
      start: 'child',
      steps: {
        child: { type: 'subworkflow', workflow: 'clean', parameters: { line: 'L1' }, resultVar: 'c', end: true },
      },
    };
    const ok = await run(def, { children: { clean: { value: { litres: 40 } } } });
    expect(ok.vars['c']).toEqual({ litres: 40 });
    expect(ok.trace[0]?.commands).toContainEqual(
      expect.objectContaining({ type: 'child.start', workflow: 'clean', params: { line: 'L1' } }),
    );
    const bad = await run(def, { children: { clean: { error: err('VALVE_STUCK') } } });
    expect(bad.error?.code).toBe('WF_CHILD_FAILED');
  });

  const approval: WorkflowDefinition = {
    id: 'ap',
    version: '1',
    start: 'release',
    steps: {
      release: {
        type: 'approval',
        roles: ['qa'],
        instructions: 'Check the batch record.',
        meaning: 'Approved for release',
        resultVar: 'decision',
        onReject: 'rework',
        next: 'done',
      },
      rework: { type: 'fail', error: 'REWORK' },
      done: { type: 'succeed' },
    },
    errors: { REWORK: { summary: 'rework' } },
  };

  it('opens a task; checks role and signature; approve and reject route', async () => {
    const d = await new Drive(approval).start();
    const task = d.last('task.open');
    expect(task).toMatchObject({ kind: 'approval', roles: ['qa'], meaning: 'Approved for release', signature: true });
    expect(
      await d.send({ type: 'approve', taskId: task.taskId, user: 'op', role: 'operator', signature: {} }),
    ).toMatchObject({ code: 'WF_ROLE_NOT_ALLOWED' });
    expect(await d.send({ type: 'approve', taskId: task.taskId, user: 'q', role: 'qa' })).toMatchObject({
      code: 'WF_SIGNATURE_REQUIRED',
    });
    expect(await d.send({ type: 'approve', taskId: 'nope', user: 'q', role: 'qa' })).toMatchObject({
      code: 'WF_TASK_NOT_FOUND',
    });
    await d.send({ type: 'approve', taskId: task.taskId, user: 'q', role: 'qa', signature: { reason: 'ok' } });
    expect(d.s.status).toBe('succeeded');
    expect(d.s.vars['decision']).toMatchObject({ decision: 'approved', user: 'q', meaning: 'Approved for release' });
    const rejected = await run(approval, { approvals: { release: { decision: 'reject' } } });
    expect(rejected.error?.code).toBe('REWORK');
  });

  const phase: WorkflowDefinition = {
    id: 'ph',
    version: '1',
    resources: { reactor1: { kind: 'unit' } },
    start: 'heat',
    steps: {
      heat: {
        type: 'phase',
        unit: 'reactor1',
        phase: 'Heat',
        parameters: { setpoint: 80 },
        commands: { hold: 'suspend' },
        resultVar: 'heat',
        end: true,
      },
    },
  };

  it('commands a unit through a phase and maps hold/restart', async () => {
    const ok = await run(phase, { phases: { heat: { afterMs: 3_600_000, data: { reached: 80 } } } });
    expect(ok.vars['heat']).toEqual({ reached: 80 });
    expect(ok.dispatched[0]).toMatchObject({
      action: 'phase.start',
      args: { unit: 'reactor1', phase: 'Heat', parameters: { setpoint: 80 } },
    });
    const aborted = await run(phase, { phases: { heat: { state: 'Aborted' } } });
    expect(aborted.error?.code).toBe('WF_PHASE_FAILED');
    const d = await new Drive(phase).start();
    await d.send({ type: 'granted', requestId: Object.keys(d.s.resources)[0]! });
    await d.ok('heat');
    await d.send({ type: 'hold' });
    expect(d.s.status).toBe('held');
    expect(d.dispatches('phase.command').at(-1)?.args).toMatchObject({ command: 'suspend' });
    await d.send({ type: 'restart' });
    expect(d.dispatches('phase.command').at(-1)?.args).toMatchObject({ command: 'restart' });
    await d.send({ type: 'phase', commandId: d.dispatches('phase.start')[0]!.commandId, state: 'Complete' });
    expect(d.s.status).toBe('succeeded');
    await d.replayMatches();
  });
});

describe('retry, catch, timeout', () => {
  const def: WorkflowDefinition = {
    id: 'r',
    version: '1',
    start: 'read',
    steps: {
      read: {
        type: 'action',
        action: 'opcua.read',
        retry: [{ errors: ['DEVICE_UNREACHABLE'], intervalMs: 100, backoffRate: 2, maxDelayMs: 300, maxAttempts: 4 }],
        catch: [{ errors: ['*'], next: 'handle', errorVar: 'lastError' }],
        timeoutMs: 1000,
        next: 'done',
      },
      handle: { type: 'action', action: 'set', args: { handled: '{{ error.code }}' }, next: 'done' },
      done: { type: 'succeed' },
    },
  };

  it('retries with backoff capped by maxDelayMs, then succeeds', async () => {
    const unreachable = { error: err('DEVICE_UNREACHABLE', true) };
    const r = await run(def, { responses: { read: [unreachable, unreachable, unreachable, { value: 1 }] } });
    expect(r.status).toBe('succeeded');
    expect(r.dispatched.map((c) => c.attempt)).toEqual([1, 2, 3, 4]);
    expect(r.virtualMs).toBe(100 + 200 + 300);
    expect(new Set(r.dispatched.map((c) => c.idempotencyKey)).size).toBe(4);
  });

  it('catches after the attempts are spent, with the error in scope', async () => {
    const r = await run(def, { responses: { read: { error: err('DEVICE_UNREACHABLE', true) } } });
    expect(r.status).toBe('succeeded');
    expect(r.vars['handled']).toBe('DEVICE_UNREACHABLE');
    expect(r.vars['lastError']).toMatchObject({ code: 'DEVICE_UNREACHABLE', stepId: 'read' });
    expect(r.dispatched).toHaveLength(4);
  });

  it('times a step out with WF_STEP_TIMEOUT', async () => {
    const r = await run(def, { responses: { read: { hang: true } } });
    expect(r.vars['handled']).toBe('WF_STEP_TIMEOUT');
  });

  it('computes deterministic jitter', () => {
    const p = { errors: ['*'], intervalMs: 1000, jitter: 'full' as const };
    expect(retryDelayMs(p, 1, 'k')).toBe(retryDelayMs(p, 1, 'k'));
    expect(retryDelayMs(p, 1, 'k')).toBeLessThanOrEqual(1000);
    expect(retryDelayMs({ ...p, jitter: 'none' }, 3, 'k')).toBe(4000);
  });
});

describe('the batch test workflow', () => {
  it('succeeds, retries, and compensates on a quality failure', async () => {
    const ok = await run(batchWorkflow, {
      params: { i: 3 },
      responses: { charge: [{ error: err('DEVICE_UNREACHABLE', true) }, { value: 3 }] },
    });
    expect(ok.status).toBe('succeeded');
    const scrapped = await run(batchWorkflow, {
      params: { i: 3 },
      responses: { check: { error: err('QUALITY_FAILED') } },
    });
    expect(scrapped.status).toBe('failed');
    expect(scrapped.error?.code).toBe('QUALITY_FAILED');
    expect(scrapped.dispatched.map((d) => d.stepId)).toEqual(['charge', 'stirA', 'heatB', 'check', 'uncharge']);
  });
});
