import { type WorkflowDefinition, compileExpression } from '@takt/workflow';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ResourceArbiter } from '../../src/index.js';
import { Drive, run } from './helpers.js';

const saga: WorkflowDefinition = {
  id: 'saga',
  version: '1',
  start: 'a',
  steps: {
    a: { type: 'action', action: 'invoke', args: { do: 'a' }, compensate: 'undoA', next: 'b' },
    b: { type: 'action', action: 'invoke', args: { do: 'b' }, compensate: 'undoB', next: 'c' },
    c: { type: 'action', action: 'invoke', args: { do: 'c' }, compensate: 'undoC', next: 'hold' },
    hold: { type: 'wait', event: 'go', next: 'd' },
    d: { type: 'action', action: 'invoke', args: { do: 'd' }, end: true },
    undoA: { type: 'action', action: 'invoke', args: { undo: 'a' }, end: true },
    undoB: { type: 'action', action: 'invoke', args: { undo: 'b', result: '{{ compensating.result }}' }, end: true },
    undoC: { type: 'action', action: 'invoke', args: { undo: 'c' }, end: true },
  },
};

describe('compensation (saga)', () => {
  it('cancel compensates completed steps in reverse completion order', async () => {
    const r = await run(saga, {
      responses: { '*': (c) => ({ value: `${JSON.stringify(c.args['do'] ?? c.args['undo'])}-done` }) },
      events: [{ atMs: 5, event: { type: 'cancel', reason: 'order withdrawn' } }],
    });
    expect(r.status).toBe('cancelled');
    expect(r.dispatched.map((c) => c.stepId)).toEqual(['a', 'b', 'c', 'undoC', 'undoB', 'undoA']);
    expect(r.dispatched.find((c) => c.args['undo'] === 'b')?.args['result']).toBe('"b"-done');
  });

  it('an unhandled failure compensates, then fails; a failing compensation alerts and continues', async () => {
    const r = await run(saga, {
      responses: {
        d: { error: { code: 'DEVICE_BAD_STATUS', message: 'x', retryable: false } },
        undoB: { error: { code: 'DEVICE_UNREACHABLE', message: 'x', retryable: true } },
      },
      events: [{ atMs: 1, event: { type: 'signal', name: 'go' } }],
    });
    expect(r.status).toBe('failed');
    expect(r.error?.code).toBe('DEVICE_BAD_STATUS');
    expect(r.dispatched.map((c) => c.stepId)).toEqual(['a', 'b', 'c', 'd', 'undoC', 'undoB', 'undoA']);
    expect(r.trace.flatMap((t) => t.commands)).toContainEqual(
      expect.objectContaining({ type: 'alert', severity: 'critical', code: 'DEVICE_UNREACHABLE' }),
    );
  });
});

describe('escalation', () => {
  const def: WorkflowDefinition = {
    id: 'esc',
    version: '1',
    start: 'dose',
    steps: {
      dose: {
        type: 'action',
        action: 'opcua.call',
        retry: [{ errors: ['*'], intervalMs: 10, maxAttempts: 10 }],
        escalate: [
          { afterMs: 50, action: 'alert', severity: 'warning', message: 'dosing is slow' },
          { afterMs: 60, action: 'operator', roles: ['supervisor'] },
          { afterFailures: 3, action: 'jump', next: 'manual' },
        ],
        next: 'done',
      },
      manual: { type: 'action', action: 'set', args: { manual: true, why: '{{ error.code }}' }, next: 'done' },
      done: { type: 'succeed' },
    },
  };

  it('alerts and asks an operator after a time, jumps after N failures', async () => {
    const r = await run(def, {
      responses: {
        dose: (c) =>
          c.attempt < 3
            ? { delayMs: 30, error: { code: 'DEVICE_UNREACHABLE', message: 'x', retryable: true } }
            : { delayMs: 30, error: { code: 'DEVICE_METHOD_FAILED', message: 'x', retryable: true } },
      },
    });
    const commands = r.trace.flatMap((t) => t.commands);
    expect(commands).toContainEqual(expect.objectContaining({ type: 'alert', message: 'dosing is slow' }));
    expect(commands).toContainEqual(
      expect.objectContaining({ type: 'task.open', kind: 'escalation', roles: ['supervisor'] }),
    );
    expect(r.status).toBe('succeeded');
    expect(r.vars).toEqual({ manual: true, why: 'DEVICE_METHOD_FAILED' });
    expect(r.dispatched).toHaveLength(3);
  });
});

describe('in-doubt device writes', () => {
  const def = (policy: 'readBack' | 'idempotent' | 'askOperator'): WorkflowDefinition => ({
    id: 'w',
    version: '1',
    start: 'write',
    steps: {
      write: {
        type: 'action',
        action: 'opcua.write',
        args: { nodeId: 'ns=2;s=SP', value: 42 },
        inDoubt: policy,
        resultVar: 'w',
        end: true,
      },
    },
  });

  it('readBack: equal value completes the step without writing again', async () => {
    const d = await new Drive(def('readBack')).start();
    const write = d.dispatches('opcua.write')[0]!;
    expect(write.inDoubt).toBe('readBack');
    await d.send({ type: 'inDoubt', commandId: write.commandId });
    const read = d.dispatches('opcua.read')[0]!;
    expect(read.args).toEqual({ nodeId: 'ns=2;s=SP' });
    await d.send({ type: 'result', commandId: read.commandId, ok: true, value: { value: 42 } });
    expect(d.s.status).toBe('succeeded');
    expect(d.s.vars['w']).toMatchObject({ resolvedBy: 'readBack' });
    expect(d.dispatches('opcua.write')).toHaveLength(1);
    await d.replayMatches();
  });

  it('readBack: a different value writes again as a new attempt with a new key', async () => {
    const d = await new Drive(def('readBack')).start();
    const write = d.dispatches('opcua.write')[0]!;
    await d.send({ type: 'inDoubt', commandId: write.commandId });
    await d.send({
      type: 'result',
      commandId: d.dispatches('opcua.read')[0]!.commandId,
      ok: true,
      value: { value: 7 },
    });
    const writes = d.dispatches('opcua.write');
    expect(writes.map((w) => w.attempt)).toEqual([1, 2]);
    expect(writes[1]!.idempotencyKey).not.toBe(writes[0]!.idempotencyKey);
    await d.ok('write', { ok: true });
    expect(d.s.status).toBe('succeeded');
  });

  it('idempotent: the same attempt is dispatched again under the same key', async () => {
    const d = await new Drive(def('idempotent')).start();
    const write = d.dispatches('opcua.write')[0]!;
    await d.send({ type: 'inDoubt', commandId: write.commandId });
    const again = d.dispatches('opcua.write');
    expect(again).toHaveLength(2);
    expect(again[1]!.idempotencyKey).toBe(write.idempotencyKey);
    expect(again[1]!.attempt).toBe(write.attempt);
  });

  it('askOperator: opens a question; the answer settles the step', async () => {
    for (const [outcome, status, writes] of [
      ['succeeded', 'succeeded', 1],
      ['failed', 'failed', 1],
      ['retry', 'running', 2],
    ] as const) {
      const d = await new Drive(def('askOperator')).start();
      await d.send({ type: 'inDoubt', commandId: d.dispatches('opcua.write')[0]!.commandId });
      const task = d.last('task.open');
      expect(task.kind).toBe('inDoubt');
      await d.send({ type: 'resolve', taskId: task.taskId, outcome, user: 'op1' });
      expect(d.s.status).toBe(status);
      expect(d.dispatches('opcua.write')).toHaveLength(writes);
      if (outcome === 'failed') expect(d.s.error?.code).toBe('WF_IN_DOUBT_FAILED');
    }
  });
});

describe('resources', () => {
  const def: WorkflowDefinition = {
    id: 'res',
    version: '1',
    resources: { mixer: { kind: 'unit' } },
    start: 'mix',
    steps: {
      mix: {
        type: 'action',
        action: 'invoke',
        requires: [{ resource: 'mixer', priority: 5, timeoutMs: 1000 }],
        next: 'after',
      },
      after: { type: 'action', action: 'invoke', end: true },
    },
  };

  it('acquires before the step, releases when it leaves, times out with WF_RESOURCE_TIMEOUT', async () => {
    const d = await new Drive(def).start();
    const acquire = d.last('acquire');
    expect(acquire).toMatchObject({ resource: 'mixer', priority: 5 });
    expect(d.dispatches()).toHaveLength(0);
    await d.send({ type: 'granted', requestId: acquire.requestId });
    expect(d.dispatches()).toHaveLength(1);
    await d.ok('mix');
    expect(d.commands).toContainEqual(expect.objectContaining({ type: 'release', requestId: acquire.requestId }));
    const t = await new Drive(def).start();
    await t.fireNext();
    expect(t.s.status).toBe('failed');
    expect(t.s.error?.code).toBe('WF_RESOURCE_TIMEOUT');
    expect(t.all.some((c) => c.type === 'release')).toBe(true);
  });

  it('arbitrates by priority, then request time, between competing instances', () => {
    const arbiter = new ResourceArbiter();
    expect(arbiter.request({ requestId: 'a', instanceId: 'A', resource: 'm', priority: 0, requestedAtMs: 1 })).toBe(
      true,
    );
    expect(arbiter.request({ requestId: 'b', instanceId: 'B', resource: 'm', priority: 0, requestedAtMs: 2 })).toBe(
      false,
    );
    expect(arbiter.request({ requestId: 'c', instanceId: 'C', resource: 'm', priority: 9, requestedAtMs: 3 })).toBe(
      false,
    );
    expect(arbiter.release('a', 'm').map((r) => r.requestId)).toEqual(['c']);
    expect(arbiter.releaseInstance('C').map((r) => r.requestId)).toEqual(['b']);
    expect(arbiter.holderOf('m')?.instanceId).toBe('B');
  });
});

describe('interlocks and lifecycle verbs', () => {
  const def: WorkflowDefinition = {
    id: 'il',
    version: '1',
    interlocks: [
      { condition: '{{ tags.doorClosed = true }}', tags: ['doorClosed'], onBreach: 'hold', message: 'door open' },
    ],
    onAbort: 'safe',
    start: 'fill',
    steps: {
      fill: { type: 'action', action: 'opcua.write', args: { nodeId: 'valve', value: 1 }, next: 'soak' },
      soak: {
        type: 'wait',
        durationMs: 60_000,
        interlocks: [{ condition: '{{ tags.pressure < 5 }}', onBreach: 'abort', message: 'overpressure' }],
        next: 'drain',
      },
      drain: { type: 'action', action: 'opcua.write', args: { nodeId: 'valve', value: 0 }, end: true },
      safe: {
        type: 'action',
        action: 'opcua.write',
        args: { nodeId: 'valve', value: 0, reason: '{{ abort.code }}' },
        end: true,
      },
    },
  };

  const tags = { doorClosed: true, pressure: 1 } as unknown as Record<string, never>;

  it('a hold interlock holds at the next safe point; restart is refused while breached', async () => {
    const d = await new Drive(def).start({}, tags);
    await d.send({ type: 'tags', values: { doorClosed: false } });
    expect(d.s.status).toBe('holding'); // the write is in flight: not a safe point
    expect(d.last('alert').code).toBe('WF_INTERLOCK_BREACHED');
    await d.ok('fill');
    expect(d.s.status).toBe('held');
    expect(d.s.threads['t0']?.activity.kind).toBe('paused');
    expect(await d.send({ type: 'restart' })).toMatchObject({ code: 'WF_INVALID_TRANSITION' });
    await d.send({ type: 'tags', values: { doorClosed: true } });
    expect(await d.send({ type: 'restart' })).toBeUndefined();
    expect(d.s.status).toBe('running');
    expect(d.s.threads['t0']?.stepId).toBe('soak');
    await d.replayMatches();
  });

  it('an abort interlock runs the safe-state procedure', async () => {
    const d = await new Drive(def).start({}, tags);
    await d.ok('fill');
    await d.send({ type: 'tags', values: { pressure: 9 } });
    expect(d.s.status).toBe('aborting');
    const safe = d.dispatches('opcua.write').at(-1)!;
    expect(safe).toMatchObject({ stepId: 'safe', args: { value: 0, reason: 'WF_INTERLOCK_BREACHED' } });
    await d.ok('safe');
    expect(d.s.status).toBe('aborted');
    expect(d.s.error?.code).toBe('WF_INTERLOCK_BREACHED');
  });

  describe('an interlock whose evaluation times out (the timeout is wall time)', () => {
    afterEach(() => {
      vi.restoreAllMocks();
    });

    /** Makes the next `slow` expression evaluations see the clock jump past the 100 ms timeout. */
    function stallEvaluations(slow: number): void {
      const realNow = Date.now.bind(Date);
      let evaluations = 0;
      let calls = 0;
      vi.spyOn(Date, 'now').mockImplementation(() => {
        calls += 1;
        // JSONata reads the clock once when an evaluation starts, then in every guardrail check
        if (calls % 2 === 1) evaluations += 1;
        return realNow() + (calls % 2 === 0 && evaluations <= slow ? 1_000 : 0);
      });
    }

    const slowDef: WorkflowDefinition = {
      ...def,
      interlocks: [
        {
          condition: '{{ $not($exists(tags.pressure)) or tags.pressure < 5 }}',
          tags: ['pressure'],
          onBreach: 'abort',
          message: 'overpressure',
        },
      ],
    };

    it('(the stall does time an evaluation out)', async () => {
      const expression = compileExpression(slowDef.interlocks?.[0]?.condition ?? '');
      stallEvaluations(1);
      await expect(expression.evaluate({ tags: { pressure: 2 } }, { nowMs: 0 })).rejects.toMatchObject({
        code: 'WF_EXPRESSION_TIMEOUT',
      });
      await expect(expression.evaluate({ tags: { pressure: 2 } }, { nowMs: 0 })).resolves.toBe(true);
    });

    it('is evaluated again: a one-off timeout is no breach', async () => {
      const d = await new Drive(slowDef).start({}, tags);
      stallEvaluations(1);
      await d.send({ type: 'tags', values: { pressure: 2 } });
      vi.restoreAllMocks();
      expect(d.s.status).toBe('running');
      expect(d.s.breached).toEqual([]);
    });

    it('still breaches (fail safe) when every evaluation times out', async () => {
      const d = await new Drive(slowDef).start({}, tags);
      stallEvaluations(1_000);
      await d.send({ type: 'tags', values: { pressure: 2 } });
      vi.restoreAllMocks();
      expect(d.s.status).toBe('aborting');
      expect(d.last('alert').code).toBe('WF_INTERLOCK_BREACHED');
    });
  });

  it('abort runs onAbort even while a device write is in flight (outcome unknown)', async () => {
    const d = await new Drive(def).start({}, tags);
    const inFlight = d.dispatches('opcua.write')[0]!;
    await d.send({ type: 'abort', reason: 'e-stop', user: 'op' });
    expect(d.s.status).toBe('aborting');
    await d.send({ type: 'result', commandId: inFlight.commandId, ok: true, value: null }); // late: ignored
    expect(d.s.status).toBe('aborting');
    await d.ok('safe');
    expect(d.s.status).toBe('aborted');
    expect(d.s.error?.code).toBe('WF_ABORTED');
  });

  it('hold pauses at a safe point, stop ends after the step in flight, cancel compensates', async () => {
    const d = await new Drive(def).start({}, tags);
    await d.send({ type: 'hold' });
    expect(d.s.status).toBe('holding');
    await d.ok('fill');
    expect(d.s.status).toBe('held');
    expect(Object.keys(d.s.timers)).toHaveLength(0); // soak has not started
    await d.send({ type: 'restart' });
    expect(d.s.threads['t0']?.stepId).toBe('soak');
    await d.send({ type: 'hold' });
    expect(d.s.status).toBe('held'); // a wait is a safe point
    await d.send({ type: 'stop' });
    expect(d.s.status).toBe('stopped');
    expect(await d.send({ type: 'restart' })).toMatchObject({ code: 'WF_INVALID_TRANSITION' });
  });

  it('the workflow timeout aborts with WF_WORKFLOW_TIMEOUT', async () => {
    const r = await run({ ...def, timeoutMs: 30_000 }, { tags: { doorClosed: true, pressure: 1 } });
    expect(r.status).toBe('aborted');
    expect(r.error?.code).toBe('WF_WORKFLOW_TIMEOUT');
    expect(r.dispatched.map((c) => c.stepId)).toEqual(['fill', 'safe']);
  });

  it('rejects oversized signal payloads and verbs that do not apply', async () => {
    const d = await new Drive(def).start({}, tags);
    expect(await d.send({ type: 'signal', name: 'x', payload: 'y'.repeat(300_000) })).toMatchObject({
      code: 'WF_PAYLOAD_TOO_LARGE',
    });
    expect(await d.send({ type: 'restart' })).toMatchObject({ code: 'WF_INVALID_TRANSITION' });
  });
});
