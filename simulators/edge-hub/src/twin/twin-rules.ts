/**
 * Module twin rules as IoT Hub and edgeHub enforce them (../shared/notes/iot-edge-platform.md §1):
 * 32 KB per section (size formula: key + value lengths, numbers 8, booleans 4, strings = characters;
 * `$version`/`$metadata` excluded), keys ≤ 1 KB without control characters, `.`, `$`, space (edgeHub
 * reported: also `#` and any whitespace), strings ≤ 4096 bytes UTF-8, depth ≤ 10 below the section,
 * integers within ±2^52, no `null` inside arrays.
 */

export const MAX_TWIN_SECTION_BYTES = 32 * 1024;
export const MAX_TWIN_STRING_BYTES = 4096;
export const MAX_TWIN_KEY_BYTES = 1024;
export const MAX_TWIN_DEPTH = 10;
const MAX_INT = 4503599627370495;
const MIN_INT = -4503599627370496;

/** A JSON object, as twins hold them. */
export type JsonObject = { [key: string]: JsonValue };
export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;

/** A rejection in IoT Hub's terms. */
export interface TwinRuleViolation {
  /** HTTP / twin response status. */
  status: 400;
  /** IoT Hub numeric error code (400004 ArgumentInvalid). */
  errorCode: 400004;
  /** `ErrorCode:ArgumentInvalid;…`, as IoT Hub words it. */
  message: string;
  /** JSON path of the offending element. */
  path: string;
}

export type TwinSection = 'desired' | 'reported';

const violation = (path: string, what: string): TwinRuleViolation => ({
  status: 400,
  errorCode: 400004,
  message: `ErrorCode:ArgumentInvalid;${what}`,
  path,
});

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function keyProblem(key: string, section: TwinSection): string | undefined {
  if (key.length === 0) return 'Property name cannot be empty';
  if (Buffer.byteLength(key, 'utf8') > MAX_TWIN_KEY_BYTES)
    return `Property name length should be maximum ${MAX_TWIN_KEY_BYTES} bytes`;
  if (/[\u0000-\u001f\u007f]/.test(key)) return 'Property name cannot contain control characters';
  if (key.includes('.') || key.includes('$') || key.includes(' '))
    return "Property name cannot contain '.', '$' or ' '";
  if (section === 'reported' && (key.includes('#') || /\s/.test(key)))
    return "Property name cannot contain '#' or whitespace";
  return undefined;
}

function check(value: JsonValue, path: string, depth: number, section: TwinSection): TwinRuleViolation | undefined {
  if (typeof value === 'string') {
    if (Buffer.byteLength(value, 'utf8') > MAX_TWIN_STRING_BYTES) {
      return violation(path, `Property or Tag value should be maximum ${MAX_TWIN_STRING_BYTES} bytes`);
    }
    return undefined;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return violation(path, 'Property value must be a finite number');
    if (Number.isInteger(value) && (value > MAX_INT || value < MIN_INT)) {
      return violation(path, 'Integer property value is out of range (±2^52)');
    }
    return undefined;
  }
  if (typeof value === 'boolean' || value === null) return undefined;
  if (depth > MAX_TWIN_DEPTH) return violation(path, `Nesting depth of the twin should be maximum ${MAX_TWIN_DEPTH}`);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item = value[i] as JsonValue;
      if (item === null) return violation(`${path}[${i}]`, 'Array elements cannot be null');
      const problem = check(item, `${path}[${i}]`, depth + 1, section);
      if (problem) return problem;
    }
    return undefined;
  }
  for (const [key, item] of Object.entries(value)) {
    const keyIssue = keyProblem(key, section);
    if (keyIssue) return violation(`${path}.${key}`, keyIssue);
    const problem = check(item, `${path}.${key}`, depth + 1, section);
    if (problem) return problem;
  }
  return undefined;
}

/** The twin size formula (bytes charged against the 32 KB budget). */
export function twinSize(value: JsonValue): number {
  if (typeof value === 'string') return value.length;
  if (typeof value === 'number') return 8;
  if (typeof value === 'boolean') return 4;
  if (value === null) return 0;
  if (Array.isArray(value)) return value.reduce<number>((sum, item) => sum + twinSize(item), 0);
  let sum = 0;
  for (const [key, item] of Object.entries(value)) {
    if (key === '$version' || key === '$metadata') continue;
    sum += key.length + twinSize(item);
  }
  return sum;
}

/** Drops `$version` / `$metadata` at the top level (clients may echo them back). */
export function withoutSystemKeys(doc: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(doc)) {
    if (key === '$version' || key === '$metadata' || key === '$etag') continue;
    out[key] = value;
  }
  return out;
}

/** Validates a patch (or a whole section) before it is merged. */
export function checkTwinPatch(patch: unknown, section: TwinSection, rawBytes?: number): TwinRuleViolation | undefined {
  if (!isJsonObject(patch)) return violation('$', `The ${section} properties must be a JSON object`);
  if (rawBytes !== undefined && rawBytes > MAX_TWIN_SECTION_BYTES) {
    return violation(
      '$',
      `'Properties.${section === 'desired' ? 'Desired' : 'Reported'}' size should be less than ${MAX_TWIN_SECTION_BYTES} bytes`,
    );
  }
  return check(withoutSystemKeys(patch), '$', 0, section);
}

/** Validates the merged section size. */
export function checkTwinSectionSize(doc: JsonObject, section: TwinSection): TwinRuleViolation | undefined {
  if (twinSize(doc) > MAX_TWIN_SECTION_BYTES) {
    return violation(
      '$',
      `'Properties.${section === 'desired' ? 'Desired' : 'Reported'}' size should be less than ${MAX_TWIN_SECTION_BYTES} bytes`,
    );
  }
  return undefined;
}

/** RFC 7396 JSON merge patch (null deletes, arrays replaced whole). */
export function mergePatch(target: JsonObject, patch: JsonObject): JsonObject {
  const out: JsonObject = { ...target };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) {
      delete out[key];
    } else if (isJsonObject(value)) {
      const current = out[key];
      out[key] = mergePatch(isJsonObject(current) ? current : {}, value);
    } else {
      out[key] = value;
    }
  }
  return out;
}
