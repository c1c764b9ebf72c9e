import { describe, expect, it } from 'vitest';
import { MAX_REPORTED_BYTES, TwinBinder } from '@takt/edge-kit';
import { DefinitionRegistry } from '../../src/index.js';

function workflow(id: string): Record<string, unknown> {
  return {
    id,
    version: '1',
    parameters: { kg: { type: 'number', default: 1 } },
    start: 'write',
    steps: {
      write: {
        type: 'action',
        action: 'opcua.write',
        args: { nodeId: 'ns=2;s=X', value: '{{ params.kg }}' },
        next: 'done',
      },
      done: { type: 'succeed' },
    },
  };
}

function broken(id: string): Record<string, unknown> {
  return {
    id,
    version: '1',
    start: 'a',
    steps: {
      a: { type: 'action', action: 'opcua.read', args: { nodeId: '{{ params.nope + }}' }, next: 'b' },
      b: { type: 'wait', next: 'c' },
      c: { type: 'choice', choices: [{ when: '{{ ) }}', next: 'zz' }] },
    },
  };
}

describe('workflow definitions from the twin', () => {
  it('acknowledges each entry on its own, compactly enough for many workflows in one reported patch', () => {
    let registered = 0;
    const registry = new DefinitionRegistry(() => `${(registered++).toString(16).padStart(64, '0')}`);
    const binder = new TwinBinder([
      { name: 'workflows', mode: 'entries', validate: (v, k) => registry.validateEntry(v, k) },
    ]);
    const workflows: Record<string, unknown> = {};
    for (let i = 0; i < 60; i++) workflows[`good${i}`] = workflow(`good${i}`);
    for (let i = 0; i < 60; i++) workflows[`bad${i}`] = broken(`bad${i}`);
    workflows['mismatch'] = workflow('other');
    const result = binder.applyFull({ $version: 3, workflows });
    const acks = result.reported['workflows'] as Record<string, { ac: number; ad?: string; value: unknown }>;
    expect(acks['good0']).toMatchObject({ ac: 200, av: 3, value: { version: '1' } });
    expect(acks['bad0']?.ac).toBe(400);
    expect(acks['bad0']?.ad).toMatch(/more \(validateWorkflow lists all\)/);
    expect(acks['mismatch']).toMatchObject({ ac: 400 });
    expect(acks['mismatch']?.ad).toContain('must equal the twin key');
    expect(result.accepted).toHaveLength(60);
    expect(Buffer.byteLength(JSON.stringify(result.reported))).toBeLessThan(MAX_REPORTED_BYTES);
    // The console still sees every problem.
    const status = registry.statuses().find((s) => s.id === 'bad0');
    expect(status?.problems?.length).toBeGreaterThan(3);
  });
});
