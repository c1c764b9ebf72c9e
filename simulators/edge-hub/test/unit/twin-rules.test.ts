import { describe, expect, it } from 'vitest';
import { checkTwinPatch, mergePatch, twinSize } from '@takt/sim-edge-hub';

describe('twin rules', () => {
  it('accepts depth 10 below the section and refuses 11', () => {
    let ok: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 9; i++) ok = { [`l${i}`]: ok };
    expect(checkTwinPatch({ top: ok }, 'desired')).toBeUndefined();
    expect(checkTwinPatch({ top: { more: ok } }, 'desired')).toMatchObject({ status: 400, errorCode: 400004 });
  });

  it('refuses bad keys, long strings, nulls in arrays, non-objects', () => {
    expect(checkTwinPatch({ 'a.b': 1 }, 'desired')?.path).toBe('$.a.b');
    expect(checkTwinPatch({ a$: 1 }, 'desired')).toBeDefined();
    expect(checkTwinPatch({ 'a b': 1 }, 'desired')).toBeDefined();
    expect(checkTwinPatch({ 'a#': 1 }, 'desired')).toBeUndefined();
    expect(checkTwinPatch({ 'a#': 1 }, 'reported')).toBeDefined();
    expect(checkTwinPatch({ s: 'é'.repeat(2049) }, 'desired')).toBeDefined();
    expect(checkTwinPatch({ s: 'x'.repeat(4096) }, 'desired')).toBeUndefined();
    expect(checkTwinPatch({ list: [1, null] }, 'desired')?.path).toBe('$.list[1]');
    expect(checkTwinPatch({ removed: null }, 'desired')).toBeUndefined();
    expect(checkTwinPatch([1], 'desired')).toBeDefined();
    expect(checkTwinPatch({ big: 2 ** 53 }, 'desired')).toBeDefined();
    expect(checkTwinPatch({ $version: 4, a: 1 }, 'desired')).toBeUndefined();
  });

  it('sizes and merges as IoT Hub does', () => {
    expect(twinSize({ ab: 'xyz', n: 1, b: true, $version: 3 })).toBe(2 + 3 + 1 + 8 + 1 + 4);
    expect(mergePatch({ a: 1, b: { c: 2, d: 3 }, e: [1] }, { a: null, b: { c: null, x: 1 }, e: [2, 3] })).toEqual({
      b: { d: 3, x: 1 },
      e: [2, 3],
    });
  });
});
