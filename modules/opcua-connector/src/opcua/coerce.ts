/**
 * JSON values → OPC UA built-in types for writes and method arguments (pure). Refuses what does not
 * fit instead of letting the server guess: a fractional number for an Int32, 300 for a Byte, "abc"
 * for a Double are OPCUA_TYPE_MISMATCH with the expected type named.
 */

/** OPC UA built-in type ids (OPC 10000-6 §5.1.2) and names. */
export const BUILTIN_TYPES: Readonly<Record<number, string>> = {
  1: 'Boolean',
  2: 'SByte',
  3: 'Byte',
  4: 'Int16',
  5: 'UInt16',
  6: 'Int32',
  7: 'UInt32',
  8: 'Int64',
  9: 'UInt64',
  10: 'Float',
  11: 'Double',
  12: 'String',
  13: 'DateTime',
  14: 'Guid',
  15: 'ByteString',
  16: 'XmlElement',
  17: 'NodeId',
  20: 'QualifiedName',
  21: 'LocalizedText',
  24: 'Variant',
};

const INTEGER_RANGES: Readonly<Record<number, readonly [number, number]>> = {
  2: [-128, 127],
  3: [0, 255],
  4: [-32_768, 32_767],
  5: [0, 65_535],
  6: [-2_147_483_648, 2_147_483_647],
  7: [0, 4_294_967_295],
};

export type CoerceResult = { ok: true; value: unknown } | { ok: false; problem: string };

function fail(problem: string): CoerceResult {
  return { ok: false, problem };
}

function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value))) return Number(value);
  if (value === 'NaN') return Number.NaN;
  return undefined;
}

/** 64-bit values as node-opcua wants them: `[high, low]` 32-bit words. */
function toInt64Words(value: unknown, signed: boolean): [number, number] | undefined {
  let big: bigint;
  try {
    if (typeof value === 'number' && Number.isSafeInteger(value)) big = BigInt(value);
    else if (typeof value === 'string' && /^-?\d+$/.test(value.trim())) big = BigInt(value.trim());
    else return undefined;
  } catch {
    return undefined;
  }
  const min = signed ? -(2n ** 63n) : 0n;
  const max = signed ? 2n ** 63n - 1n : 2n ** 64n - 1n;
  if (big < min || big > max) return undefined;
  const unsigned = BigInt.asUintN(64, big);
  return [Number(unsigned >> 32n), Number(unsigned & 0xffffffffn)];
}

function coerceScalar(value: unknown, dataType: number): CoerceResult {
  const typeName = BUILTIN_TYPES[dataType] ?? `type ${dataType}`;
  switch (dataType) {
    case 1:
      if (typeof value === 'boolean') return { ok: true, value };
      if (value === 0 || value === 1) return { ok: true, value: value === 1 };
      if (value === 'true' || value === 'false') return { ok: true, value: value === 'true' };
      return fail(`expected Boolean (true/false), got ${JSON.stringify(value)}`);
    case 2:
    case 3:
    case 4:
    case 5:
    case 6:
    case 7: {
      const n = toNumber(value);
      const [min, max] = INTEGER_RANGES[dataType] as readonly [number, number];
      if (n === undefined || !Number.isInteger(n))
        return fail(`expected an integer (${typeName}), got ${JSON.stringify(value)}`);
      if (n < min || n > max) return fail(`${n} is outside ${typeName} (${min} … ${max})`);
      return { ok: true, value: n };
    }
    case 8:
    case 9: {
      const words = toInt64Words(value, dataType === 8);
      return words
        ? { ok: true, value: words }
        : fail(`expected an integer (${typeName}) as a number or a decimal string`);
    }
    case 10:
    case 11: {
      const n = toNumber(value);
      if (n === undefined) return fail(`expected a number (${typeName}), got ${JSON.stringify(value)}`);
      if (dataType === 10 && Number.isFinite(n) && Math.abs(n) > 3.4028234663852886e38) {
        return fail(`${n} is outside Float`);
      }
      return { ok: true, value: n };
    }
    case 12:
    case 16:
      if (typeof value === 'string') return { ok: true, value };
      if (typeof value === 'number' || typeof value === 'boolean') return { ok: true, value: String(value) };
      return fail(`expected a string (${typeName})`);
    case 13: {
      if (typeof value !== 'string' && typeof value !== 'number') return fail('expected an ISO 8601 date (DateTime)');
      const date = new Date(value);
      return Number.isNaN(date.getTime())
        ? fail(`"${String(value)}" is not a date (DateTime)`)
        : { ok: true, value: date };
    }
    case 14:
      return typeof value === 'string' && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value)
        ? { ok: true, value }
        : fail('expected a GUID string');
    case 15:
      return typeof value === 'string'
        ? { ok: true, value: Buffer.from(value, 'base64') }
        : fail('expected base64 (ByteString)');
    case 21:
      return typeof value === 'string'
        ? { ok: true, value: { text: value } }
        : fail('expected a string (LocalizedText)');
    default:
      return fail(`writing ${typeName} values is not supported by the connector`);
  }
}

/**
 * Coerces `value` to the built-in `dataType`; `valueRank` ≥ 1 (or 0 with an array given) expects an
 * array of that type.
 */
export function coerceValue(value: unknown, dataType: number, valueRank: number): CoerceResult {
  if (value === null || value === undefined) return fail('a value is required');
  const wantsArray = valueRank >= 1 || (valueRank === 0 && Array.isArray(value));
  if (wantsArray) {
    if (!Array.isArray(value)) return fail(`expected an array of ${BUILTIN_TYPES[dataType] ?? dataType}`);
    if (value.length > 100_000) return fail('array too long (max 100000 elements)');
    const out: unknown[] = [];
    for (const [index, element] of value.entries()) {
      const result = coerceScalar(element, dataType);
      if (!result.ok) return fail(`[${index}]: ${result.problem}`);
      out.push(result.value);
    }
    return { ok: true, value: out };
  }
  if (Array.isArray(value)) return fail(`expected a single ${BUILTIN_TYPES[dataType] ?? dataType}, got an array`);
  return coerceScalar(value, dataType);
}

/** Read-back comparison: exact for integers/strings, relative 1e-6 for floats (Float rounds). */
export function sameValue(written: unknown, read: unknown, dataType: number): boolean {
  if (Array.isArray(written) && Array.isArray(read)) {
    return written.length === read.length && written.every((w, i) => sameValue(w, read[i], dataType));
  }
  if ((dataType === 10 || dataType === 11) && typeof written === 'number' && typeof read === 'number') {
    if (Number.isNaN(written) && Number.isNaN(read)) return true;
    const scale = Math.max(1, Math.abs(written));
    return Math.abs(written - read) <= (dataType === 10 ? 1e-6 : 1e-12) * scale;
  }
  if (written instanceof Date && read instanceof Date) return written.getTime() === read.getTime();
  if (Buffer.isBuffer(written) && Buffer.isBuffer(read)) return written.equals(read);
  if (typeof written === 'object' && written !== null && typeof read === 'object' && read !== null) {
    return JSON.stringify(written) === JSON.stringify(read);
  }
  return written === read;
}
