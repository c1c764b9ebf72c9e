/**
 * OPC UA values → JSON (OPC 10000-6 §5.4 "reversible" where it matters): 64-bit integers as numbers
 * when safe, else decimal strings; DateTime as ISO 8601; ByteString as base64; NaN/±Infinity as the
 * strings "NaN"/"Infinity"/"-Infinity"; LocalizedText as its text; NodeIds and structures as strings
 * or their JSON form. Pure.
 */

function int64ToJson(pair: readonly [number, number], signed: boolean): number | string {
  const [high, low] = pair;
  const big = signed
    ? (BigInt.asIntN(32, BigInt(high)) << 32n) | BigInt(low >>> 0)
    : (BigInt(high >>> 0) << 32n) | BigInt(low >>> 0);
  return big <= BigInt(Number.MAX_SAFE_INTEGER) && big >= BigInt(Number.MIN_SAFE_INTEGER)
    ? Number(big)
    : big.toString();
}

/** `dataType` is the OPC UA built-in type id (node-opcua `DataType`): 8 Int64, 9 UInt64. */
export function valueToJson(value: unknown, dataType?: number, depth = 0): unknown {
  if (value === null || value === undefined) return null;
  if (depth > 8) return null;
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return 'NaN';
    if (value === Number.POSITIVE_INFINITY) return 'Infinity';
    if (value === Number.NEGATIVE_INFINITY) return '-Infinity';
    return value;
  }
  if (typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (Buffer.isBuffer(value)) return value.toString('base64');
  if (
    (dataType === 8 || dataType === 9) &&
    Array.isArray(value) &&
    value.length === 2 &&
    typeof value[0] === 'number' &&
    typeof value[1] === 'number'
  ) {
    return int64ToJson([value[0], value[1]], dataType === 8);
  }
  if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<number>, (v) => valueToJson(v));
  if (Array.isArray(value)) return value.map((v) => valueToJson(v, dataType, depth + 1));
  if (typeof value === 'object') {
    const candidate = value as { text?: unknown; toJSON?: () => unknown; toString?: () => string };
    if ('text' in candidate && 'locale' in candidate) return candidate.text ?? null;
    if (typeof candidate.toJSON === 'function') return candidate.toJSON();
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = valueToJson(v, undefined, depth + 1);
    return out;
  }
  return null;
}
