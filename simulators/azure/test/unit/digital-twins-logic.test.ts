import { describe, expect, it } from 'vitest';
import { applyPatch, compileQuery, parsePatch } from '../../src/index.js';

describe('Digital Twins emulator: JSON Patch and queries', () => {
  it('applies add, replace and remove; refuses $ properties and missing paths with 400', () => {
    const twin = { $dtId: 'a', state: 'idle', nested: { x: 1 } };
    const next = applyPatch(
      twin,
      parsePatch([
        { op: 'replace', path: '/state', value: 'running' },
        { op: 'add', path: '/nested/y', value: 2 },
        { op: 'remove', path: '/nested/x' },
        { op: 'add', path: '/a~1b', value: true },
      ]),
    );
    expect(next).toEqual({ $dtId: 'a', state: 'running', nested: { y: 2 }, 'a/b': true });
    expect(twin.state).toBe('idle');
    for (const bad of [
      [{ op: 'replace', path: '/nope', value: 1 }],
      [{ op: 'add', path: '/$dtId', value: 'b' }],
      [{ op: 'add', path: '/x/y', value: 1 }],
    ]) {
      expect(() => applyPatch(twin, parsePatch(bad))).toThrow(expect.objectContaining({ status: 400 }));
    }
    expect(() => parsePatch({ op: 'add' })).toThrow(expect.objectContaining({ code: 'JsonPatchInvalid' }));
    expect(() => parsePatch([{ op: 'move', path: '/a' }])).toThrow(expect.objectContaining({ status: 400 }));
  });

  it('answers the query subset and refuses the rest', () => {
    const twins = [
      { $dtId: 'run-1', $metadata: { $model: 'dtmi:takt:WorkflowRun;1' }, state: 'running', seq: 3 },
      { $dtId: 'unit-1', $metadata: { $model: 'dtmi:takt:Unit;1' }, runState: 'running' },
    ];
    const ids = (q: string) => twins.filter(compileQuery(q)).map((t) => t.$dtId);
    expect(ids('SELECT * FROM digitaltwins')).toEqual(['run-1', 'unit-1']);
    expect(ids("SELECT * FROM digitaltwins WHERE IS_OF_MODEL('dtmi:takt:Unit;1')")).toEqual(['unit-1']);
    expect(ids("SELECT * FROM digitaltwins T WHERE IS_OF_MODEL(T, 'dtmi:takt:WorkflowRun;1') AND T.seq = 3")).toEqual([
      'run-1',
    ]);
    expect(ids("SELECT * FROM digitaltwins WHERE $dtId = 'unit-1'")).toEqual(['unit-1']);
    expect(() => compileQuery('SELECT T.state FROM digitaltwins T JOIN x')).toThrow(
      expect.objectContaining({ code: 'QueryNotSupported' }),
    );
  });
});
