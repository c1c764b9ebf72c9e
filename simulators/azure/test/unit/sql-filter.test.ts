import { describe, expect, it } from 'vitest';
import { FilterSyntaxError, compileFilter } from '../../src/index.js';

const msg = (props: Record<string, unknown>, system: Record<string, string> = {}) => ({
  applicationProperties: props,
  system,
});

describe('Service Bus SQL filter subset', () => {
  it('evaluates comparisons, IN, IS NULL, EXISTS, AND/OR/NOT and sys properties', () => {
    const m = msg({ state: 'failed', site: 's1', seq: 7 }, { subject: 'step.failed', sessionId: 'run-1' });
    const cases: [string, boolean][] = [
      ['1=1', true],
      ["state = 'failed'", true],
      ["state <> 'failed'", false],
      ["state = 'failed' AND site IN ('s1', 's2')", true],
      ["state = 'running' OR sys.Label = 'step.failed'", true],
      ["NOT (site = 's1')", false],
      ['seq > 5 AND seq <= 7', true],
      ['missing IS NULL', true],
      ['EXISTS(site)', true],
      ["site NOT IN ('s1')", false],
      ["sys.SessionId = 'run-1'", true],
      ["user.state = 'failed'", true],
      ["missing = 'x'", false],
    ];
    for (const [rule, expected] of cases) expect([rule, compileFilter(rule)(m)]).toEqual([rule, expected]);
  });

  it('refuses rules it cannot parse', () => {
    for (const rule of ["state = 'open", 'state =', "state = 'a' AND", 'state @ 1']) {
      expect(() => compileFilter(rule)).toThrow(FilterSyntaxError);
    }
  });
});
