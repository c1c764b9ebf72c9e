import { describe, expect, it } from 'vitest';
import { type ConditionInput, compileCondition } from '@takt/sim-edge-hub';

const input = (app: Record<string, string>, sys: Record<string, string> = {}, body?: unknown): ConditionInput => ({
  applicationProperty: (name) => app[name],
  systemProperty: (name) => sys[name],
  body: () => body as never,
});

describe('route conditions', () => {
  it('compares application and system properties', () => {
    expect(compileCondition("severity = 'high'").matches(input({ severity: 'high' }))).toBe(true);
    expect(compileCondition("severity = 'high'").matches(input({ severity: 'low' }))).toBe(false);
    expect(compileCondition("severity = 'high'").matches(input({}))).toBe(false);
    expect(
      compileCondition("$connectionModuleId = 'opcua-connector'").matches(
        input({}, { connectionModuleId: 'opcua-connector' }),
      ),
    ).toBe(true);
    expect(compileCondition('level > 3').matches(input({ level: '4' }))).toBe(true);
    expect(compileCondition("a <> 'x' AND NOT (b = 'y')").matches(input({ a: 'z', b: 'q' }))).toBe(true);
  });

  it('reads $body paths, arrays and functions; undefined never matches', () => {
    const body = { temperature: 61.5, line: { id: 'L1' }, alarms: [{ code: 'E1' }], name: 'Mixer' };
    const test = (text: string): boolean => compileCondition(text).matches(input({}, {}, body));
    expect(test('$body.temperature > 50')).toBe(true);
    expect(test("$body.line.id = 'L1' AND $body.alarms[0].code = 'E1'")).toBe(true);
    expect(test('$body.missing > 1')).toBe(false);
    expect(test('NOT ($body.missing > 1)')).toBe(false);
    expect(test('$body.missing > 1 OR $body.temperature > 60')).toBe(true);
    expect(test('IS_DEFINED($body.line) AND NOT IS_DEFINED($body.nope)')).toBe(true);
    expect(test("LENGTH($body.name) = 5 AND STARTS_WITH(LOWER($body.name), 'mix')")).toBe(true);
    expect(test('$body.temperature * 2 - 3 >= 120')).toBe(true);
    expect(compileCondition('$body.temperature > 50').matches(input({}, {}, undefined))).toBe(false);
  });

  it('refuses what IoT Edge does not evaluate and malformed text', () => {
    for (const bad of [
      "$twin.tags.x = 'y'",
      '$body > 1',
      "a = 'unterminated",
      'a = = 1',
      'nofn(1)',
      '(a = 1',
      'a = 1 junk junk',
    ]) {
      expect(() => compileCondition(bad), bad).toThrow();
    }
    expect(() => compileCondition('('.repeat(200) + 'a = 1' + ')'.repeat(200))).toThrow();
  });
});
