/**
 * JSONata expressions in the twin-safe form `"{{ … }}"`: compile (with positions for the validator),
 * evaluate with a time limit and a depth limit, and deterministic `$now()`, `$millis()` and `$random()`
 * taken from the caller (the engine passes its injected clock and a seeded generator).
 */
import jsonata from 'jsonata';
import { WorkflowError } from './errors.js';
import type { Json, JsonObject, Template } from './types.js';

const WHOLE = /^\s*\{\{([\s\S]*?)\}\}\s*$/;
const SEGMENT = /\{\{([\s\S]*?)\}\}/g;

/** Default limits of every evaluation. */
export const defaultExpressionLimits = Object.freeze({ timeoutMs: 100, maxDepth: 200, maxSequence: 100_000 });

export interface ExpressionLimits {
  /** Wall-clock watchdog per evaluation. Default 100 ms. */
  timeoutMs?: number;
  /** Nested evaluation depth. Default 200. */
  maxDepth?: number;
  /** Longest sequence an evaluation may build. Default 100,000. */
  maxSequence?: number;
}

/** A compiled expression. */
export interface CompiledExpression {
  readonly source: string;
  /** Offset of the JSONata body inside the original string. */
  readonly offset: number;
  evaluate(scope: JsonObject, options: EvaluateOptions): Promise<Json | undefined>;
  /** The names read under `params.` (for the undeclared-parameter check). */
  readonly parameterRefs: readonly string[];
}

export interface EvaluateOptions extends ExpressionLimits {
  /** Time for `$now()` and `$millis()` (epoch ms): the engine's injected clock, never the wall clock. */
  nowMs: number;
  /** Source of `$random()`; the engine passes a generator seeded per instance and step. Default: 0.5. */
  random?: () => number;
}

/** True when `value` is a string that is one whole `{{ … }}` expression. */
export function isExpression(value: unknown): boolean {
  return typeof value === 'string' && WHOLE.test(value);
}

/** True when `value` contains `{{ … }}` anywhere. */
export function hasExpression(value: unknown): boolean {
  return typeof value === 'string' && value.includes('{{') && /\{\{[\s\S]*?\}\}/.test(value);
}

interface JsonataFailure {
  code?: string;
  position?: number;
  message?: string;
  token?: string;
}

function asFailure(error: unknown): JsonataFailure {
  return typeof error === 'object' && error !== null ? error : { message: String(error) };
}

const SIMPLE_PATH = /^\s*[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,8}\s*$/;
const JSONATA_KEYWORDS = new Set(['and', 'or', 'in', 'true', 'false', 'null', 'function']);
const FALLBACK = Symbol('fallback');

function readPath(scope: JsonObject, path: readonly string[]): Json | undefined | typeof FALLBACK {
  let current: Json | undefined = scope;
  for (const key of path) {
    if (JSONATA_KEYWORDS.has(key)) return FALLBACK;
    if (current === null || current === undefined || typeof current !== 'object' || Array.isArray(current)) {
      return FALLBACK;
    }
    current = Object.hasOwn(current, key) ? current[key] : undefined;
    if (current === undefined) return undefined;
  }
  return Array.isArray(current) ? FALLBACK : current;
}

const cache = new Map<string, CompiledExpression>();
const CACHE_LIMIT = 5_000;

function collectParameterRefs(node: unknown, out: Set<string>, depth = 0): void {
  if (depth > 200 || typeof node !== 'object' || node === null) return;
  if (Array.isArray(node)) {
    for (const child of node) collectParameterRefs(child, out, depth + 1);
    return;
  }
  const record = node as Record<string, unknown>;
  if (record['type'] === 'path' && Array.isArray(record['steps'])) {
    const [first, second] = record['steps'] as { type?: string; value?: unknown }[];
    if (first?.type === 'name' && first.value === 'params' && second?.type === 'name') {
      out.add(String(second.value));
    }
  }
  for (const value of Object.values(record)) collectParameterRefs(value, out, depth + 1);
}

/** Turns a JSONata result (sequences, functions, undefined) into plain JSON. */
export function toJson(value: unknown): Json | undefined {
  if (value === undefined || typeof value === 'function') return undefined;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  const text = JSON.stringify(value) as string | undefined;
  return text === undefined ? undefined : (JSON.parse(text) as Json);
}

/**
 * Compiles `"{{ body }}"` (or a bare JSONata body with `bare: true`). Throws `WF_EXPRESSION_INVALID`
 * with `details.position` (offset in the original string) when it does not compile.
 */
export function compileExpression(source: string, limits: ExpressionLimits = {}): CompiledExpression {
  const timeoutMs = limits.timeoutMs ?? defaultExpressionLimits.timeoutMs;
  const maxDepth = limits.maxDepth ?? defaultExpressionLimits.maxDepth;
  const maxSequence = limits.maxSequence ?? defaultExpressionLimits.maxSequence;
  const key = `${timeoutMs}|${maxDepth}|${maxSequence}|${source}`;
  const cached = cache.get(key);
  if (cached !== undefined) return cached;

  const match = WHOLE.exec(source);
  if (match === null || match[1] === undefined) {
    throw new WorkflowError('WF_EXPRESSION_INVALID', 'an expression must be written as "{{ … }}"', {
      details: { position: 0, source },
    });
  }
  const body = match[1];
  const offset = source.indexOf('{{') + 2;
  if (body.trim().length === 0) {
    throw new WorkflowError('WF_EXPRESSION_INVALID', 'the expression is empty', { details: { position: offset } });
  }
  let compiled: jsonata.Expression;
  try {
    compiled = jsonata(body, { timeout: timeoutMs, stack: maxDepth, sequence: maxSequence });
  } catch (error) {
    const failure = asFailure(error);
    throw new WorkflowError(
      'WF_EXPRESSION_INVALID',
      `expression does not compile: ${failure.message ?? 'syntax error'}`,
      { details: { position: offset + (failure.position ?? 0), jsonataCode: failure.code, token: failure.token } },
    );
  }
  const refs = new Set<string>();
  collectParameterRefs(compiled.ast(), refs);
  // Plain dotted paths over objects (the common `{{ vars.x }}`) are read directly: same result as
  // JSONata as long as no step meets an array (then JSONata's mapping rules apply, so it falls back).
  const path = SIMPLE_PATH.test(body) ? body.trim().split('.') : undefined;
  const result: CompiledExpression = {
    source,
    offset,
    parameterRefs: [...refs].sort(),
    async evaluate(scope, options) {
      if (path !== undefined) {
        const value = readPath(scope, path);
        if (value !== FALLBACK) return value === undefined || typeof value !== 'object' ? value : toJson(value);
      }
      const nowMs = options.nowMs;
      const random = options.random ?? (() => 0.5);
      const bindings = {
        now: () => new Date(nowMs).toISOString(),
        millis: () => nowMs,
        random,
      };
      try {
        return toJson(await compiled.evaluate(scope, bindings));
      } catch (error) {
        const failure = asFailure(error);
        const details = { jsonataCode: failure.code, position: offset + (failure.position ?? 0), source };
        if (failure.code === 'D1012') {
          throw new WorkflowError('WF_EXPRESSION_TIMEOUT', `expression ran longer than ${timeoutMs} ms`, {
            details,
          });
        }
        if (failure.code === 'D1011' || failure.code === 'U1001') {
          throw new WorkflowError('WF_EXPRESSION_TOO_DEEP', `expression nested deeper than ${maxDepth}`, {
            details,
          });
        }
        throw new WorkflowError('WF_EXPRESSION_FAILED', `expression failed: ${failure.message ?? 'error'}`, {
          details,
          cause: error,
        });
      }
    },
  };
  if (cache.size >= CACHE_LIMIT) {
    const oldest = cache.keys().next().value;
    if (oldest !== undefined) cache.delete(oldest);
  }
  cache.set(key, result);
  return result;
}

/** Every expression string inside a template, with its JSON pointer suffix. */
export function templateExpressions(template: Template, pointer = ''): { pointer: string; source: string }[] {
  const out: { pointer: string; source: string }[] = [];
  const walk = (value: Template, at: string, depth: number): void => {
    if (depth > 64) return;
    if (typeof value === 'string') {
      if (isExpression(value)) out.push({ pointer: at, source: value });
      else if (hasExpression(value)) {
        for (const match of value.matchAll(SEGMENT)) out.push({ pointer: at, source: match[0] });
      }
    } else if (Array.isArray(value)) {
      value.forEach((item, index) => walk(item, `${at}/${index}`, depth + 1));
    } else if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) walk(item, `${at}/${escapePointer(key)}`, depth + 1);
    }
  };
  walk(template, pointer, 0);
  return out;
}

/** JSON pointer escaping (RFC 6901). */
export function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

const staticTemplates = new WeakSet<object>();

function isStaticTemplate(template: Template, depth = 0): boolean {
  if (depth > 64) return false;
  if (typeof template === 'string') return !hasExpression(template);
  if (template === null || typeof template !== 'object') return true;
  if (staticTemplates.has(template)) return true;
  const values = Array.isArray(template) ? template : Object.values(template);
  const result = values.every((value) => isStaticTemplate(value, depth + 1));
  if (result) staticTemplates.add(template);
  return result;
}

/**
 * Evaluates a template: whole-string expressions keep their JSON type; expressions inside text are
 * interpolated; `undefined` results drop object keys and array items (twins allow no nulls in arrays).
 */
export async function evaluateTemplate(
  template: Template,
  scope: JsonObject,
  options: EvaluateOptions,
): Promise<Json | undefined> {
  if (isStaticTemplate(template)) return template;
  return evaluateNode(template, scope, options, 0);
}

async function evaluateNode(
  value: Template,
  scope: JsonObject,
  options: EvaluateOptions,
  depth: number,
): Promise<Json | undefined> {
  if (depth > 64) return value;
  if (typeof value === 'string') {
    if (isExpression(value)) return compileExpression(value, options).evaluate(scope, options);
    if (!hasExpression(value)) return value;
    let out = '';
    let last = 0;
    for (const match of value.matchAll(SEGMENT)) {
      out += value.slice(last, match.index);
      const result = await compileExpression(match[0], options).evaluate(scope, options);
      out += result === undefined ? '' : typeof result === 'string' ? result : JSON.stringify(result);
      last = match.index + match[0].length;
    }
    return out + value.slice(last);
  }
  if (Array.isArray(value)) {
    const items: Json[] = [];
    for (const item of value) {
      const result = await evaluateNode(item, scope, options, depth + 1);
      if (result !== undefined && result !== null) items.push(result);
    }
    return items;
  }
  if (value !== null && typeof value === 'object') {
    const out: JsonObject = {};
    for (const [key, item] of Object.entries(value)) {
      const result = await evaluateNode(item, scope, options, depth + 1);
      if (result !== undefined) out[key] = result;
    }
    return out;
  }
  return value;
}

/** JSONata truthiness, as a choice or condition reads it. */
export function isTruthy(value: Json | undefined): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === '') return false;
  if (Array.isArray(value)) return value.some((item) => isTruthy(item));
  return true;
}
