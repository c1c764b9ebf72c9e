/**
 * IoT Hub module-twin limits that shape the language (DESIGN.md §2): the whole desired section is at
 * most 32 KB, no string over 4 KB, nesting depth at most 10, keys without `.`, `$`, `#`, whitespace or
 * control characters, and no nulls inside arrays.
 */

export const twinLimits = Object.freeze({
  /** All desired properties together. */
  maxDesiredBytes: 32 * 1024,
  /** One string value (UTF-8 bytes). */
  maxStringBytes: 4 * 1024,
  /** Nesting depth of objects, counted from the desired-properties root. */
  maxDepth: 10,
  /** Key length (bytes). */
  maxKeyBytes: 1024,
});

/** Depth at which a definition sits in the orchestrator's twin: `desired.workflows.<id>`. */
export const defaultTwinBaseDepth = 2;

export interface TwinStats {
  /** UTF-8 bytes of the compact JSON. */
  bytes: number;
  /** Object/array nesting depth of the document itself (an empty object is 1). */
  depth: number;
  /** `depth` plus the depth at which the document sits in the twin. */
  depthInTwin: number;
  longestStringBytes: number;
  longestStringPointer: string;
}

export interface TwinViolation {
  kind: 'key' | 'nullInArray' | 'stringTooLong' | 'tooDeep' | 'tooLarge';
  pointer: string;
  detail: string;
}

const BAD_KEY = /[.$#\s\u0000-\u001f]/;

/** UTF-8 byte length without TextEncoder allocations for ASCII. */
export function utf8Bytes(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

const escape = (segment: string): string => segment.replace(/~/g, '~0').replace(/\//g, '~1');

/**
 * Measures a document against the twin limits. `baseDepth` is how deep the document sits in the
 * desired properties (default 2, `workflows.<id>`). Walks at most `maxNodes` values.
 */
export function checkTwinLimits(
  document: unknown,
  baseDepth = defaultTwinBaseDepth,
  maxNodes = 200_000,
): { stats: TwinStats; violations: TwinViolation[] } {
  const violations: TwinViolation[] = [];
  let depth = 0;
  let longest = 0;
  let longestPointer = '';
  let nodes = 0;
  let reportedDepth = false;
  const walk = (value: unknown, pointer: string, level: number): void => {
    if (++nodes > maxNodes) return;
    if (typeof value === 'string') {
      const size = utf8Bytes(value);
      if (size > longest) {
        longest = size;
        longestPointer = pointer;
      }
      if (size > twinLimits.maxStringBytes) {
        violations.push({
          kind: 'stringTooLong',
          pointer,
          detail: `${size} bytes > ${twinLimits.maxStringBytes}`,
        });
      }
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    const here = level + 1;
    if (here > depth) depth = here;
    if (here + baseDepth > twinLimits.maxDepth && !reportedDepth) {
      reportedDepth = true;
      violations.push({
        kind: 'tooDeep',
        pointer,
        detail: `depth ${here + baseDepth} in the twin > ${twinLimits.maxDepth}`,
      });
    }
    if (here > 64) return;
    if (Array.isArray(value)) {
      value.forEach((item: unknown, index) => {
        if (item === null) violations.push({ kind: 'nullInArray', pointer: `${pointer}/${index}`, detail: 'null' });
        walk(item, `${pointer}/${index}`, here);
      });
      return;
    }
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
      const at = `${pointer}/${escape(key)}`;
      if (key.length === 0 || BAD_KEY.test(key) || utf8Bytes(key) > twinLimits.maxKeyBytes) {
        violations.push({ kind: 'key', pointer: at, detail: JSON.stringify(key) });
      }
      walk(item, at, here);
    }
  };
  walk(document, '', 0);
  const json = JSON.stringify(document) as string | undefined;
  const bytes = json === undefined ? 0 : utf8Bytes(json);
  if (bytes > twinLimits.maxDesiredBytes) {
    violations.push({ kind: 'tooLarge', pointer: '', detail: `${bytes} bytes > ${twinLimits.maxDesiredBytes}` });
  }
  return {
    stats: {
      bytes,
      depth,
      depthInTwin: depth + baseDepth,
      longestStringBytes: longest,
      longestStringPointer: longestPointer,
    },
    violations,
  };
}
