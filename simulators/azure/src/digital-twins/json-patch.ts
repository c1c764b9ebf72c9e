import { HttpError } from '../http-util.js';

/** One RFC 6902 operation (the subset Azure Digital Twins accepts: add, replace, remove). */
export interface PatchOperation {
  op: 'add' | 'replace' | 'remove';
  path: string;
  value?: unknown;
}

function invalid(message: string): HttpError {
  return new HttpError(400, 'JsonPatchInvalid', message);
}

function segments(path: string): string[] {
  if (!path.startsWith('/')) throw invalid(`path must start with '/': ${path}`);
  return path
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Validates the shape of a patch document. */
export function parsePatch(body: unknown): PatchOperation[] {
  if (!Array.isArray(body)) throw invalid('a JSON Patch document is an array of operations');
  return body.map((raw: unknown, i) => {
    if (!isObject(raw)) throw invalid(`operation ${i} is not an object`);
    const { op, path } = raw;
    if (op !== 'add' && op !== 'replace' && op !== 'remove') throw invalid(`operation ${i}: op ${String(op)}`);
    if (typeof path !== 'string') throw invalid(`operation ${i}: path must be a string`);
    if (op !== 'remove' && !('value' in raw)) throw invalid(`operation ${i}: value is required`);
    return op === 'remove' ? { op, path } : { op, path, value: raw['value'] };
  });
}

/** Applies a patch to a copy of `doc`; `$`-properties cannot be changed. Throws 400 on a bad path. */
export function applyPatch(doc: Record<string, unknown>, ops: readonly PatchOperation[]): Record<string, unknown> {
  const out = structuredClone(doc);
  for (const op of ops) {
    const parts = segments(op.path);
    const last = parts.pop();
    if (last === undefined || last === '') throw invalid(`cannot ${op.op} the whole document`);
    if (parts.length === 0 && last.startsWith('$')) throw invalid(`${last} cannot be patched`);
    let target: unknown = out;
    for (const part of parts) {
      if (!isObject(target) || !(part in target)) throw invalid(`path ${op.path} does not exist`);
      target = target[part];
    }
    if (!isObject(target)) throw invalid(`path ${op.path} does not point into an object`);
    if (op.op === 'add') target[last] = structuredClone(op.value);
    else if (!(last in target)) throw invalid(`path ${op.path} does not exist`);
    else if (op.op === 'replace') target[last] = structuredClone(op.value);
    else delete target[last];
  }
  return out;
}
