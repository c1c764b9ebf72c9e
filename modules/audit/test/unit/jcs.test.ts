import { describe, expect, it } from 'vitest';
import { CanonicalizeError, canonicalize } from '../../src/index.js';

/** RFC 8785 Appendix B: IEEE 754 bit patterns and their canonical forms. */
const NUMBER_VECTORS: [string, string][] = [
  ['0000000000000000', '0'],
  ['8000000000000000', '0'],
  ['0000000000000001', '5e-324'],
  ['8000000000000001', '-5e-324'],
  ['7fefffffffffffff', '1.7976931348623157e+308'],
  ['ffefffffffffffff', '-1.7976931348623157e+308'],
  ['4340000000000000', '9007199254740992'],
  ['c340000000000000', '-9007199254740992'],
  ['4430000000000000', '295147905179352830000'],
  ['44b52d02c7e14af5', '9.999999999999997e+22'],
  ['44b52d02c7e14af6', '1e+23'],
  ['44b52d02c7e14af7', '1.0000000000000001e+23'],
  ['444b1ae4d6e2ef4e', '999999999999999700000'],
  ['444b1ae4d6e2ef4f', '999999999999999900000'],
  ['444b1ae4d6e2ef50', '1e+21'],
  ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
  ['3eb0c6f7a0b5ed8d', '0.000001'],
  ['41b3de4355555553', '333333333.3333332'],
  ['41b3de4355555554', '333333333.33333325'],
  ['41b3de4355555555', '333333333.3333333'],
  ['41b3de4355555556', '333333333.3333334'],
  ['41b3de4355555557', '333333333.33333343'],
  ['becbf647612f3696', '-0.0000033333333333333333'],
  ['43143ff3c1cb0959', '1424953923781206.2'],
];

function fromBits(hex: string): number {
  const buffer = Buffer.from(hex, 'hex');
  return buffer.readDoubleBE(0);
}

describe('canonicalize (RFC 8785)', () => {
  it.each(NUMBER_VECTORS)('serializes the double %s as %s', (bits, expected) => {
    expect(canonicalize(fromBits(bits))).toBe(expected);
  });

  it('refuses NaN and the infinities (Appendix B: 7fffffffffffffff, 7ff0000000000000)', () => {
    for (const bits of ['7fffffffffffffff', '7ff0000000000000', 'fff0000000000000']) {
      expect(() => canonicalize(fromBits(bits))).toThrow(CanonicalizeError);
    }
  });

  it('canonicalizes the example of §3.2.2 (literals, numbers, string escapes)', () => {
    const input = JSON.parse(
      '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],' +
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",' +
        ' "literals": [null, true, false]}',
    ) as unknown;
    expect(canonicalize(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  it('sorts members by UTF-16 code units (§3.2.3 example)', () => {
    const input = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    };
    const text = canonicalize(input);
    const keys = Object.keys(JSON.parse(text) as Record<string, string>);
    // JSON.parse keeps "1" first (integer-like keys); check the order in the text instead.
    const positions = ['\\r', '"1"', '\u0080', '\u00f6', '\u20ac', '\ud83d\ude00', '\ufb33'].map((k) =>
      text.indexOf(k),
    );
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    expect(keys).toHaveLength(7);
    expect(text.startsWith('{"\\r":"Carriage Return","1":"One","\u0080":"Control"')).toBe(true);
  });

  it('has no whitespace, nests, skips undefined members and maps -0 to 0', () => {
    expect(canonicalize({ b: [1, { d: 2, c: -0 }], a: 'x', u: undefined })).toBe('{"a":"x","b":[1,{"c":0,"d":2}]}');
  });

  it('refuses lone surrogates, non-plain objects, functions, bigints and undefined array items', () => {
    expect(() => canonicalize({ s: 'a\ud800b' })).toThrow(CanonicalizeError);
    expect(() => canonicalize({ s: '\udc00' })).toThrow(CanonicalizeError);
    expect(canonicalize({ s: '\ud83d\ude00' })).toBe('{"s":"😀"}');
    expect(() => canonicalize(new Date(0))).toThrow(CanonicalizeError);
    expect(() => canonicalize({ f: () => 1 })).toThrow(CanonicalizeError);
    expect(() => canonicalize(10n)).toThrow(CanonicalizeError);
    expect(() => canonicalize([undefined])).toThrow(CanonicalizeError);
  });
});
