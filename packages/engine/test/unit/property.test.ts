import fc from 'fast-check';
import { type Step, type WorkflowDefinition, validate } from '@takt/workflow';
import { describe, expect, it } from 'vitest';
import { replay, simulate } from '../../src/index.js';
import { frozenReplay } from './helpers.js';

type Kind = 'invoke' | 'set' | 'wait' | 'choice' | 'parallel' | 'forEach' | 'write';

const stepArb = fc.record({
  kind: fc.constantFrom<Kind>('invoke', 'set', 'wait', 'choice', 'parallel', 'forEach', 'write'),
  retry: fc.boolean(),
  catchAll: fc.boolean(),
  timeout: fc.option(fc.integer({ min: 1, max: 50 }), { nil: undefined }),
  n: fc.integer({ min: 0, max: 5 }),
});

/** Builds a valid definition from a list of step shapes: a chain s0 → s1 → … → done. */
interface Shape {
  kind: Kind;
  retry: boolean;
  catchAll: boolean;
  timeout: number | undefined;
  n: number;
}

function build(shapes: Shape[]): WorkflowDefinition {
  const steps: Record<string, Step> = { done: { type: 'succeed' }, handler: { type: 'fail', error: 'HANDLED' } };
  shapes.forEach((shape, i) => {
    const id = `s${i}`;
    const next = i + 1 < shapes.length ? `s${i + 1}` : 'done';
    const common = {
      next,
      ...(shape.retry ? { retry: [{ errors: ['*'], intervalMs: 1, maxAttempts: 3 }] } : {}),
      ...(shape.catchAll ? { catch: [{ errors: ['*'], next: 'handler' }] } : {}),
      ...(shape.timeout === undefined ? {} : { timeoutMs: shape.timeout }),
    };
    switch (shape.kind) {
      case 'invoke':
        steps[id] = { type: 'action', action: 'invoke', args: { n: shape.n, x: '{{ vars.x }}' }, ...common };
        break;
      case 'write':
        steps[id] = {
          type: 'action',
          action: 'opcua.write',
          args: { nodeId: 'n', value: shape.n },
          inDoubt: 'readBack',
          ...common,
        };
        break;
      case 'set':
        steps[id] = { type: 'action', action: 'set', args: { x: `{{ $number(vars.x) + ${shape.n} }}` }, next };
        break;
      case 'wait':
        steps[id] = { type: 'wait', durationMs: shape.n * 10, next };
        break;
      case 'choice':
        steps[id] = { type: 'choice', choices: [{ when: `{{ vars.x > ${shape.n} }}`, next }], default: next };
        break;
      case 'parallel':
        steps[`${id}b1`] = { type: 'action', action: 'invoke', args: { b: 1 }, end: true };
        steps[`${id}b2`] = { type: 'wait', durationMs: shape.n, end: true };
        steps[id] = {
          type: 'parallel',
          branches: [`${id}b1`, `${id}b2`],
          join: shape.n % 2 === 0 ? 'all' : 'any',
          ...common,
        };
        break;
      case 'forEach':
        steps[`${id}body`] = { type: 'action', action: 'invoke', args: { item: '{{ item }}' }, end: true };
        steps[id] = {
          type: 'forEach',
          items: `{{ [1..${shape.n + 1}] }}`,
          iterator: `${id}body`,
          concurrency: 2,
          ...common,
        };
        break;
    }
  });
  if (!shapes.some((s) => s.catchAll && s.kind !== 'set' && s.kind !== 'wait' && s.kind !== 'choice'))
    delete steps['handler'];
  return {
    id: 'prop',
    version: '1',
    variables: { x: 1 },
    errors: { HANDLED: { summary: 'handled' } },
    start: shapes.length > 0 ? 's0' : 'done',
    steps,
  };
}

const responseArb = fc.array(fc.constantFrom('ok', 'unreachable', 'rejected', 'hang'), { minLength: 1, maxLength: 6 });

describe('property: valid definitions', () => {
  it('validate accepts them and the core never crashes; replay reproduces the state', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { maxLength: 7 }), responseArb, async (shapes, script) => {
        const def = build(shapes);
        expect(validate(def)).toEqual([]);
        let call = 0;
        const run = await simulate(def, {
          maxEvents: 2_000,
          responses: {
            '*': () => {
              const kind = script[call++ % script.length];
              if (kind === 'unreachable')
                return { error: { code: 'DEVICE_UNREACHABLE', message: 'x', retryable: true }, delayMs: 1 };
              if (kind === 'rejected')
                return { error: { code: 'DEVICE_WRITE_REJECTED', message: 'x', retryable: false } };
              if (kind === 'hang') return { hang: true };
              return { value: call, delayMs: 2 };
            },
          },
        });
        expect(['running', 'succeeded', 'failed']).toContain(run.status);
        expect(await replay(def, run.journal)).toEqual(run.state);
        expect(await frozenReplay(def, run.journal)).toEqual(run.state);
      }),
      { numRuns: 60 },
    );
  });
});

const mutations: { code: string; apply: (def: WorkflowDefinition & Record<string, unknown>) => void }[] = [
  { code: 'STEP_REF_UNKNOWN', apply: (d) => void (d.start = 'missing') },
  {
    code: 'SCHEMA_INVALID',
    apply: (d) => void ((d.steps['done'] as unknown as Record<string, unknown>)['type'] = 'teleport'),
  },
  { code: 'SCHEMA_INVALID', apply: (d) => void ((d as Record<string, unknown>)['version'] = 7) },
  { code: 'KEY_INVALID', apply: (d) => void (d['variables'] = { 'bad key': 1 }) },
  { code: 'NULL_IN_ARRAY', apply: (d) => void (d['variables'] = { list: [null] }) },
  { code: 'STEP_UNREACHABLE', apply: (d) => void (d.steps['orphan'] = { type: 'succeed' }) },
  { code: 'STEP_DEAD_END', apply: (d) => void (d.steps['done'] = { type: 'action', action: 'invoke' }) },
  { code: 'EXPRESSION_INVALID', apply: (d) => void (d.steps['done'] = { type: 'succeed', output: { x: '{{ ) }}' } }) },
  {
    code: 'PARAMETER_UNDECLARED',
    apply: (d) => void (d.steps['done'] = { type: 'succeed', output: { x: '{{ params.nope }}' } }),
  },
  {
    code: 'RESOURCE_UNDECLARED',
    apply: (d) => void (d.steps['done'] = { type: 'phase', unit: 'ghost', phase: 'Mix', end: true }),
  },
  {
    code: 'BUSY_LOOP',
    apply: (d) => void (d.steps['done'] = { type: 'action', action: 'set', args: { x: 1 }, next: 'done' }),
  },
  { code: 'TWIN_STRING_TOO_LONG', apply: (d) => void (d['description'] = 'x'.repeat(4100)) },
];

describe('property: invalid definitions', () => {
  it('are rejected with the code of the defect', () => {
    fc.assert(
      fc.property(
        fc.array(stepArb, { maxLength: 6 }),
        fc.integer({ min: 0, max: mutations.length - 1 }),
        (shapes, which) => {
          const def = build(shapes) as WorkflowDefinition & Record<string, unknown>;
          const mutation = mutations[which]!;
          mutation.apply(def);
          const found = validate(def).map((p) => p.code);
          expect(found).toContain(mutation.code);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('arbitrary JSON never crashes the validator', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
        expect(Array.isArray(validate(value))).toBe(true);
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.constantFrom('id', 'version', 'start', 'steps', 'parameters', 'triggers'),
          fc.jsonValue({ maxDepth: 4 }),
        ),
        (value) => {
          expect(validate(value).length).toBeGreaterThan(0);
        },
      ),
      { numRuns: 300 },
    );
  });
});
