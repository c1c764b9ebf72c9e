/**
 * RFC 8785 JSON Canonicalization Scheme (JCS). Written here instead of using the `canonicalize` npm
 * package: its current versions need Node 22, and a dozen lines with the RFC's test vectors give us
 * control over what is refused (non-finite numbers, lone surrogates, non-JSON values).
 *
 * - object members sorted by their names as UTF-16 code units (RFC 8785 §3.2.3), no whitespace;
 * - numbers as ECMAScript Number.prototype.toString (§3.2.2.3 mandates exactly that), -0 as 0;
 * - strings as ECMAScript JSON.stringify escapes them (§3.2.2.2: \b \t \n \f \r \" \\, other
 *   controls as lowercase \u00xx, everything else literal).
 */

/** Thrown for values JSON (and so JCS) cannot express. */
export class CanonicalizeError extends Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(`${path}: ${message}`);
    this.name = 'CanonicalizeError';
  }
}

// A lone (unpaired) UTF-16 surrogate: not a Unicode scalar value (RFC 8785 §3.2.2.2 requires valid Unicode).
const ANY_SURROGATE = /[\uD800-\uDFFF]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const MAX_DEPTH = 64;

/** The canonical JSON text of `value` (RFC 8785). Throws {@link CanonicalizeError} for non-JSON values. */
export function canonicalize(value: unknown): string {
  const parts: string[] = [];
  write(value, '$', 0, parts);
  return parts.join('');
}

function write(value: unknown, path: string, depth: number, out: string[]): void {
  if (depth > MAX_DEPTH) throw new CanonicalizeError(`nested deeper than ${MAX_DEPTH} levels`, path);
  if (value === null) {
    out.push('null');
    return;
  }
  switch (typeof value) {
    case 'boolean':
      out.push(value ? 'true' : 'false');
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new CanonicalizeError(`${String(value)} is not a JSON number`, path);
      // ECMAScript Number::toString; JSON.stringify(-0) is "0" as the RFC requires.
      out.push(JSON.stringify(value));
      return;
    case 'string':
      out.push(string(value, path));
      return;
    case 'object': {
      if (Array.isArray(value)) {
        out.push('[');
        value.forEach((item: unknown, i) => {
          if (i > 0) out.push(',');
          write(item, `${path}[${i}]`, depth + 1, out);
        });
        out.push(']');
        return;
      }
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) {
        throw new CanonicalizeError('only plain objects are JSON objects', path);
      }
      const record = value as Record<string, unknown>;
      // Default sort compares UTF-16 code units, which is what RFC 8785 §3.2.3 asks for.
      const keys = Object.keys(record)
        .filter((k) => record[k] !== undefined)
        .sort();
      out.push('{');
      keys.forEach((key, i) => {
        if (i > 0) out.push(',');
        out.push(string(key, `${path}.${key}`), ':');
        write(record[key], `${path}.${key}`, depth + 1, out);
      });
      out.push('}');
      return;
    }
    default:
      throw new CanonicalizeError(`a ${typeof value} is not a JSON value`, path);
  }
}

function string(value: string, path: string): string {
  if (ANY_SURROGATE.test(value) && LONE_SURROGATE.test(value))
    throw new CanonicalizeError('string holds a lone UTF-16 surrogate', path);
  return JSON.stringify(value);
}
