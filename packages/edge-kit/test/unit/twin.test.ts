import { describe, expect, it } from 'vitest';
import { type PropertyVerdict, TwinBinder, mergePatch } from '../../src/index.js';

const settings = {
  name: 'settings',
  mode: 'whole' as const,
  validate(value: unknown): PropertyVerdict {
    const v = value as { maxInstances?: unknown };
    return typeof v.maxInstances === 'number' && v.maxInstances > 0
      ? { ok: true, value }
      : { ok: false, problems: ['maxInstances must be a positive number'] };
  },
};
const workflows = {
  name: 'workflows',
  mode: 'entries' as const,
  validate(value: unknown, key: string): PropertyVerdict {
    const v = value as { steps?: unknown };
    return v.steps ? { ok: true, value, ackValue: { id: key } } : { ok: false, problems: [`${key}: steps missing`] };
  },
};

describe('mergePatch (RFC 7386)', () => {
  it('adds, replaces, deletes with null, replaces arrays whole', () => {
    expect(mergePatch({ a: 1, b: { c: 2, d: 3 }, e: [1, 2] }, { a: null, b: { c: null, x: 9 }, e: [3] })).toEqual({
      b: { d: 3, x: 9 },
      e: [3],
    });
    expect(mergePatch({ a: 1 }, 'scalar')).toBe('scalar');
  });
});

describe('TwinBinder', () => {
  it('acks every writable of the full twin with PnP acks, per entry for maps', () => {
    const binder = new TwinBinder([settings, workflows]);
    const result = binder.applyFull({
      $version: 4,
      settings: { maxInstances: 10 },
      workflows: { mix: { steps: {} }, bad: { title: 'no steps' } },
    });
    expect(result.status).toBe('applied');
    expect(result.reported).toEqual({
      settings: { value: { maxInstances: 10 }, ac: 200, av: 4 },
      workflows: {
        mix: { value: { id: 'mix' }, ac: 200, av: 4 },
        bad: { value: null, ac: 400, av: 4, ad: 'bad: steps missing' },
      },
    });
    expect(result.accepted.map((a) => a.key ?? a.property).sort()).toEqual(['mix', 'settings']);
    expect(result.rejected).toEqual([{ property: 'workflows', key: 'bad', problems: ['bad: steps missing'] }]);
  });

  it('applies patches in $version order, drops stale ones and reports gaps', () => {
    const binder = new TwinBinder([settings, workflows]);
    binder.applyFull({ $version: 1, settings: { maxInstances: 1 } });
    expect(binder.applyPatch({ $version: 2, settings: { maxInstances: 2 } }).status).toBe('applied');
    const stale = binder.applyPatch({ $version: 2, settings: { maxInstances: 99 } });
    expect(stale).toMatchObject({ status: 'stale', accepted: [], reported: {} });
    expect(binder.effectiveValue('settings')).toEqual({ maxInstances: 2 });
    const gap = binder.applyPatch({ $version: 5, settings: { maxInstances: 5 } });
    expect(gap.status).toBe('gap');
    expect(binder.version).toBe(5);
    expect(binder.applyFull({ $version: 3, settings: { maxInstances: 3 } }).status).toBe('stale');
  });

  it('keeps the last good value when a patch is rejected, and says so in the ack', () => {
    const binder = new TwinBinder([settings]);
    binder.applyFull({ $version: 1, settings: { maxInstances: 5 } });
    const result = binder.applyPatch({ $version: 2, settings: { maxInstances: -1 } });
    expect(result.reported).toEqual({
      settings: { value: { maxInstances: 5 }, ac: 400, av: 2, ad: 'maxInstances must be a positive number' },
    });
    expect(binder.effectiveValue('settings')).toEqual({ maxInstances: 5 });
  });

  it('touches only changed entries of a map, deletes with null, and clears their acks', () => {
    const binder = new TwinBinder([workflows]);
    binder.applyFull({ $version: 1, workflows: { a: { steps: 1 }, b: { steps: 2 } } });
    const patch = binder.applyPatch({ $version: 2, workflows: { a: null, c: { steps: 3 } } });
    expect(patch.reported).toEqual({ workflows: { a: null, c: { value: { id: 'c' }, ac: 200, av: 2 } } });
    expect(patch.removed).toEqual([{ property: 'workflows', key: 'a' }]);
    expect(patch.accepted).toEqual([{ property: 'workflows', key: 'c', value: { steps: 3 } }]);
    expect(binder.effectiveValue('workflows', 'b')).toEqual({ steps: 2 });
    expect(binder.effectiveValue('workflows', 'a')).toBeUndefined();
  });

  it('rejects unknown properties and invalid documents without throwing', () => {
    const binder = new TwinBinder([settings]);
    const result = binder.applyFull({ $version: 1, setings: { maxInstances: 1 } });
    expect(result.rejected).toEqual([{ property: 'setings', problems: ['unknown property setings'] }]);
    expect(result.reported['setings']).toMatchObject({ ac: 400, av: 1 });
    expect(binder.applyPatch('garbage').status).toBe('invalid');
    expect(binder.applyPatch({ settings: {} }).status).toBe('invalid');
    expect(binder.applyPatch([1, 2]).status).toBe('invalid');
  });

  it('turns a validator exception into a 400 ack', () => {
    const binder = new TwinBinder([
      {
        name: 'settings',
        mode: 'whole',
        validate: () => {
          throw new Error('boom');
        },
      },
    ]);
    const result = binder.applyFull({ $version: 1, settings: {} });
    expect(result.reported['settings']).toMatchObject({ ac: 400, ad: 'validator failed: boom' });
  });
});
