import { describe, expect, it } from 'vitest';
import {
  type WorkflowDefinition,
  checkTwinLimits,
  compileExpression,
  evaluateTemplate,
  problemCatalog,
  scheduleRuns,
  TagTriggerFilter,
  validate,
  validateWorkflow,
  workflowJsonSchema,
} from '../../src/index.js';

const base = (): WorkflowDefinition => ({
  id: 'mix',
  version: '1',
  parameters: { speed: { type: 'number', unit: 'rpm', min: 0, max: 1200, default: 300 } },
  resources: { mixer1: { kind: 'unit' } },
  start: 'stir',
  steps: {
    stir: {
      type: 'action',
      action: 'opcua.write',
      args: { nodeId: 'ns=2;s=Speed', value: '{{ params.speed }}' },
      requires: [{ resource: 'mixer1' }],
      next: 'done',
    },
    done: { type: 'succeed' },
  },
});

const codes = (input: unknown): string[] => validate(input).map((p) => p.code);

describe('validate', () => {
  it('accepts a valid definition and reports twin figures', () => {
    const result = validateWorkflow(base());
    expect(result.problems).toEqual([]);
    expect(result.valid).toBe(true);
    expect(result.twin.bytes).toBeGreaterThan(100);
    expect(result.twin.depthInTwin).toBe(result.twin.depth + 2);
    expect(result.twin.maxBytes).toBe(32 * 1024);
  });

  it('reports schema problems with pointers', () => {
    const def = base() as unknown as Record<string, unknown>;
    (def['steps'] as Record<string, Record<string, unknown>>)['stir']!['retry'] = [{ errors: ['x'], maxAttempts: 0 }];
    (def['steps'] as Record<string, Record<string, unknown>>)['stir']!['bogus'] = 1;
    const problems = validate(def);
    expect(problems.map((p) => [p.code, p.pointer])).toEqual(
      expect.arrayContaining([
        ['SCHEMA_INVALID', '/steps/stir/retry/0/errors/0'],
        ['SCHEMA_INVALID', '/steps/stir/retry/0/maxAttempts'],
        ['SCHEMA_INVALID', '/steps/stir/bogus'],
      ]),
    );
  });

  it('finds unknown refs, unreachable steps, dead ends and busy loops', () => {
    const def: WorkflowDefinition = {
      id: 'g',
      version: '1',
      start: 'a',
      steps: {
        a: { type: 'action', action: 'invoke', next: 'b' },
        b: { type: 'choice', choices: [{ when: '{{ vars.n < 3 }}', next: 'a' }], default: 'nowhere' },
        c: { type: 'action', action: 'invoke' },
      },
    };
    const problems = validate(def);
    expect(problems.map((p) => [p.code, p.pointer])).toEqual(
      expect.arrayContaining([
        ['STEP_REF_UNKNOWN', '/steps/b/default'],
        ['STEP_UNREACHABLE', '/steps/c'],
        ['STEP_DEAD_END', '/steps/c'],
      ]),
    );
    expect(problems.some((p) => p.code === 'BUSY_LOOP')).toBe(true);
    // A wait in the loop makes it a polling loop, which is fine.
    const polling = structuredClone(def);
    polling.steps['a'] = { type: 'wait', durationMs: 1000, next: 'b' };
    polling.steps['b'] = { type: 'choice', choices: [{ when: '{{ vars.n < 3 }}', next: 'a' }], default: 'end' };
    polling.steps['end'] = { type: 'succeed' };
    delete polling.steps['c'];
    expect(validate(polling)).toEqual([]);
  });

  it('reports expression compile errors with the position and undeclared parameters', () => {
    const def = base();
    def.steps['stir'] = { ...def.steps['stir'], args: { value: '{{ params.speed + }}' } } as never;
    const problem = validate(def).find((p) => p.code === 'EXPRESSION_INVALID');
    expect(problem?.pointer).toBe('/steps/stir/args/value');
    expect(problem?.position).toBeGreaterThan(2);
    const undeclared = base();
    undeclared.steps['stir'] = { ...undeclared.steps['stir'], args: { value: '{{ params.torque }}' } } as never;
    expect(codes(undeclared)).toContain('PARAMETER_UNDECLARED');
    const notDelimited = base();
    notDelimited.steps['done'] = { type: 'choice', choices: [{ when: 'vars.x = 1', next: 'stir' }] } as never;
    expect(codes(notDelimited)).toContain('EXPRESSION_INVALID');
  });

  it('reports undeclared resources, bad defaults, cron and wait kinds', () => {
    const def = base();
    def.resources = {};
    def.parameters = { speed: { type: 'number', min: 0, max: 10, default: 300 } };
    def.triggers = [{ kind: 'schedule', cron: 'not a cron' }];
    def.steps['w'] = { type: 'wait', durationMs: 5, event: 'go', end: true };
    def.steps['done'] = { type: 'succeed' };
    (def.steps['stir'] as { next?: string }).next = 'w';
    def.steps['w'] = { type: 'wait', durationMs: 5, event: 'go', next: 'done' };
    expect(codes(def)).toEqual(
      expect.arrayContaining(['RESOURCE_UNDECLARED', 'PARAMETER_DEFAULT_INVALID', 'CRON_INVALID', 'WAIT_KIND_INVALID']),
    );
  });

  it('enforces the twin limits: keys, nulls in arrays, 4 KB strings, 32 KB, depth', () => {
    const def = base() as unknown as Record<string, unknown>;
    def['variables'] = { 'a.b': 1, list: [1, null], long: 'x'.repeat(5000) };
    expect(codes(def)).toEqual(expect.arrayContaining(['KEY_INVALID', 'NULL_IN_ARRAY', 'TWIN_STRING_TOO_LONG']));
    const big = base();
    for (let i = 0; i < 200; i++)
      big.steps[`s${i}`] = { type: 'action', action: 'invoke', args: { text: 'y'.repeat(200) }, end: true };
    expect(codes(big)).toContain('TWIN_TOO_LARGE');
    const deep = base() as unknown as Record<string, unknown>;
    deep['variables'] = { a: { b: { c: { d: { e: { f: { g: { h: 1 } } } } } } } };
    expect(codes(deep)).toContain('TWIN_TOO_DEEP');
    expect(checkTwinLimits({ a: [1] }, 0).stats.depth).toBe(2);
  });

  it('accepts a reference with uri + sha256 and rejects a bad one', () => {
    const ref = { id: 'big', version: '3', uri: 'https://plant.example/wf/big.json', sha256: 'a'.repeat(64) };
    const result = validateWorkflow(ref);
    expect(result.kind).toBe('reference');
    expect(result.problems).toEqual([]);
    expect(codes({ ...ref, sha256: 'nope', uri: 'ftp://x' })).toEqual(
      expect.arrayContaining(['SCHEMA_INVALID', 'REFERENCE_INVALID']),
    );
  });

  it('never throws on garbage', () => {
    for (const input of [
      null,
      1,
      'x',
      [],
      { steps: 1 },
      { steps: { a: null } },
      { id: 'x', steps: { a: { type: 'parallel', branches: 'x' } } },
    ]) {
      expect(Array.isArray(validate(input))).toBe(true);
      expect(validate(input).length).toBeGreaterThan(0);
    }
  });

  it('documents every problem code and exports a JSON Schema', () => {
    expect(Object.keys(problemCatalog).length).toBeGreaterThan(10);
    expect(workflowJsonSchema['$schema']).toContain('2020-12');
    expect(JSON.stringify(workflowJsonSchema)).toContain('"forEach"');
  });
});

describe('expressions', () => {
  it('evaluates with deterministic time and limits', async () => {
    const scope = { vars: { x: 2, list: [1, 2, 3] } };
    expect(await compileExpression('{{ vars.x * 2 }}').evaluate(scope, { nowMs: 0 })).toBe(4);
    expect(await compileExpression('{{ $millis() }}').evaluate(scope, { nowMs: 1234 })).toBe(1234);
    expect(await compileExpression('{{ $sum(vars.list) }}').evaluate(scope, { nowMs: 0 })).toBe(6);
    expect(await compileExpression('{{ vars.list }}').evaluate(scope, { nowMs: 0 })).toEqual([1, 2, 3]);
    const deep = compileExpression('{{ ($f := function($n) { $n = 0 ? 0 : 1 + $f($n - 1) }; $f(100000)) }}', {
      maxDepth: 50,
    });
    await expect(deep.evaluate({}, { nowMs: 0 })).rejects.toMatchObject({ code: 'WF_EXPRESSION_TOO_DEEP' });
    const slow = compileExpression('{{ $count([1..5000000].($ * 2)) }}', { timeoutMs: 20, maxSequence: 100_000_000 });
    await expect(slow.evaluate({}, { nowMs: 0 })).rejects.toMatchObject({ code: 'WF_EXPRESSION_TIMEOUT' });
    expect(() => compileExpression('{{ 1 + }}')).toThrow(expect.objectContaining({ code: 'WF_EXPRESSION_INVALID' }));
  });

  it('evaluates templates: typed whole expressions, interpolation, dropped undefined', async () => {
    const out = await evaluateTemplate(
      { a: '{{ vars.x }}', b: 'batch {{ vars.x }} ok', c: '{{ vars.missing }}', d: ['{{ vars.missing }}', 1] },
      { vars: { x: 7 } },
      { nowMs: 0 },
    );
    expect(out).toEqual({ a: 7, b: 'batch 7 ok', d: [1] });
  });
});

describe('triggers', () => {
  it('computes missed schedule runs by policy', () => {
    const from = Date.UTC(2026, 0, 1, 0, 0);
    const to = Date.UTC(2026, 0, 1, 5, 30);
    const hourly = { cron: '0 * * * *' };
    expect(scheduleRuns({ ...hourly, missedRuns: 'skip' }, from, to).missedMs).toEqual([]);
    expect(scheduleRuns({ ...hourly, missedRuns: 'runOnce' }, from, to).missedMs).toEqual([Date.UTC(2026, 0, 1, 5)]);
    expect(scheduleRuns({ ...hourly, missedRuns: 'runAll', maxCatchUp: 3 }, from, to).missedMs).toHaveLength(3);
    expect(scheduleRuns(hourly, from, to).nextMs).toBe(Date.UTC(2026, 0, 1, 6));
  });

  it('debounces tag conditions and ignores changes inside the deadband', () => {
    const filter = new TagTriggerFilter({ debounceMs: 100, deadband: 0.5 });
    expect(filter.accept('t', 10)).toBe(true);
    expect(filter.accept('t', 10.2)).toBe(false);
    expect(filter.observe(true, 0)).toBe(false);
    expect(filter.due(50)).toBe(false);
    expect(filter.due(100)).toBe(true);
    expect(filter.due(200)).toBe(false);
    filter.observe(false, 300);
    expect(filter.observe(true, 400)).toBe(false);
    expect(filter.dueAtMs()).toBe(500);
  });
});
