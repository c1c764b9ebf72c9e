/**
 * The validator: `validate(definition) → problems[]`, each with a JSON pointer and a code from
 * {@link problemCatalog}. It never throws on any input (the property test feeds it garbage) and
 * never evaluates an expression: it only compiles them.
 */
import { WorkflowError } from './errors.js';
import { compileExpression, escapePointer, isExpression, templateExpressions } from './expressions.js';
import { type Field, type Shape, definitionShape, identifierPattern, referenceShape } from './schema.js';
import { checkCron } from './triggers.js';
import { type TwinStats, checkTwinLimits, defaultTwinBaseDepth, twinLimits } from './twin-limits.js';
import type { Json, Step, WorkflowDefinition, WorkflowReference } from './types.js';

/** Every validation problem code, with what it means. Documented in docs/workflow-language.md. */
export const problemCatalog = {
  SCHEMA_INVALID: { summary: 'A value has the wrong type, a required field is missing, or a field is unknown.' },
  KEY_INVALID: { summary: 'A key is empty or contains `.`, `$`, `#`, whitespace or control characters (twin rule).' },
  NULL_IN_ARRAY: { summary: 'An array contains null, which module twins do not allow.' },
  TWIN_TOO_LARGE: { summary: 'The definition is larger than 32 KB of JSON; deliver it by reference (uri + sha256).' },
  TWIN_STRING_TOO_LONG: { summary: 'A string is longer than 4 KB (UTF-8), the twin limit for one value.' },
  TWIN_TOO_DEEP: { summary: 'The definition nests deeper than 10 levels once placed in the twin.' },
  STEP_REF_UNKNOWN: { summary: 'A step id is referenced (start, next, branch, handler…) but not defined.' },
  STEP_UNREACHABLE: { summary: 'No path from `start` or `onAbort` leads to this step.' },
  STEP_DEAD_END: { summary: 'The step has neither `next` nor `end: true`, so its path does not say how it ends.' },
  BUSY_LOOP: { summary: 'A cycle of steps contains no wait, approval or phase step, so it would spin without pause.' },
  EXPRESSION_INVALID: { summary: 'A JSONata expression does not compile or is not written as "{{ … }}".' },
  PARAMETER_UNDECLARED: {
    summary: 'An expression reads `params.<name>` but the definition declares no such parameter.',
  },
  PARAMETER_DEFAULT_INVALID: { summary: "A parameter's default does not match its type, range or enum." },
  RESOURCE_UNDECLARED: {
    summary: 'A step requires a resource (or runs a phase on a unit) not declared in `resources`.',
  },
  CRON_INVALID: { summary: "A schedule trigger's cron pattern or time zone does not parse." },
  WAIT_KIND_INVALID: { summary: 'A wait step needs exactly one of `durationMs`, `until`, `condition` or `event`.' },
  ESCALATION_INVALID: {
    summary: 'An escalation needs `afterMs` or `afterFailures`, and `action: jump` needs `next`.',
  },
  REFERENCE_INVALID: { summary: 'A definition by reference needs an `https:`/`file:` or relative `uri` and a sha256.' },
} as const;

export type ProblemCode = keyof typeof problemCatalog;

export interface ValidationProblem {
  code: ProblemCode;
  /** RFC 6901 pointer into the definition. */
  pointer: string;
  message: string;
  severity: 'error' | 'warning';
  /** For expressions: character offset inside the string at `pointer`. */
  position?: number;
}

export interface ValidationResult {
  valid: boolean;
  kind: 'definition' | 'reference' | 'unknown';
  problems: ValidationProblem[];
  twin: TwinStats & { maxBytes: number; maxDepth: number; maxStringBytes: number };
}

export interface ValidateOptions {
  /** Depth at which the definition sits in the twin. Default 2 (`workflows.<id>`). */
  twinBaseDepth?: number;
  /** Cap on reported problems. Default 200. */
  maxProblems?: number;
}

/** Steps that make a loop safe: they wait for time, a person or equipment. */
const WAITING_TYPES = new Set(['wait', 'approval', 'phase']);
/** Steps whose path continues with `next` or ends with `end: true`. */
const FLOW_TYPES = new Set(['action', 'wait', 'parallel', 'forEach', 'subworkflow', 'approval', 'phase']);

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

class Collector {
  readonly problems: ValidationProblem[] = [];
  constructor(private readonly max: number) {}
  add(code: ProblemCode, pointer: string, message: string, position?: number): void {
    if (this.problems.length >= this.max) return;
    const problem: ValidationProblem = { code, pointer, message, severity: 'error' };
    if (position !== undefined) problem.position = position;
    this.problems.push(problem);
  }
}

interface WalkContext {
  out: Collector;
  stepIds: Set<string>;
  parameterNames: Set<string>;
  checkRefs: boolean;
}

function checkExpression(source: unknown, pointer: string, ctx: WalkContext): void {
  if (typeof source !== 'string') {
    ctx.out.add('SCHEMA_INVALID', pointer, 'expected an expression string "{{ … }}"');
    return;
  }
  if (!isExpression(source)) {
    ctx.out.add('EXPRESSION_INVALID', pointer, 'an expression must be written as "{{ … }}"', 0);
    return;
  }
  compileAndCheck(source, pointer, ctx);
}

function compileAndCheck(source: string, pointer: string, ctx: WalkContext): void {
  try {
    const compiled = compileExpression(source);
    for (const name of compiled.parameterRefs) {
      if (!ctx.parameterNames.has(name)) {
        ctx.out.add('PARAMETER_UNDECLARED', pointer, `reads params.${name}, which is not declared`);
      }
    }
  } catch (error) {
    const position =
      error instanceof WorkflowError && typeof error.details?.['position'] === 'number' ? error.details['position'] : 0;
    ctx.out.add('EXPRESSION_INVALID', pointer, error instanceof Error ? error.message : String(error), position);
  }
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function checkShape(value: unknown, shape: Shape, pointer: string, ctx: WalkContext, depth: number): void {
  if (depth > 32) return;
  const bad = (message: string): void => ctx.out.add('SCHEMA_INVALID', pointer, message);
  switch (shape.t) {
    case 'string':
      if (typeof value !== 'string') return bad(`expected a string, got ${typeName(value)}`);
      if (shape.maxLength !== undefined && value.length > shape.maxLength) {
        return bad(`longer than ${shape.maxLength} characters`);
      }
      if (shape.pattern !== undefined && !shape.pattern.test(value)) return bad(`does not match ${shape.pattern}`);
      if (shape.enum !== undefined && !shape.enum.includes(value))
        return bad(`expected one of ${shape.enum.join(', ')}`);
      return;
    case 'id':
      if (typeof value !== 'string') return bad(`expected an identifier, got ${typeName(value)}`);
      if (!identifierPattern.test(value)) return bad('not an identifier ([A-Za-z_][A-Za-z0-9_-]*, at most 64)');
      return;
    case 'stepRef':
      if (typeof value !== 'string') return bad(`expected a step id, got ${typeName(value)}`);
      if (ctx.checkRefs && !ctx.stepIds.has(value)) {
        ctx.out.add('STEP_REF_UNKNOWN', pointer, `no step "${value}"`);
      }
      return;
    case 'expr':
      return checkExpression(value, pointer, ctx);
    case 'template':
      for (const found of templateExpressions(value as Json, pointer))
        compileAndCheck(found.source, found.pointer, ctx);
      return;
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) return bad(`expected a number, got ${typeName(value)}`);
      if (shape.integer === true && !Number.isInteger(value)) return bad('expected an integer');
      if (shape.min !== undefined && value < shape.min) return bad(`below the minimum ${shape.min}`);
      if (shape.max !== undefined && value > shape.max) return bad(`above the maximum ${shape.max}`);
      return;
    case 'boolean':
      if (typeof value !== 'boolean') return bad(`expected a boolean, got ${typeName(value)}`);
      return;
    case 'const':
      if (value !== shape.value) return bad(`expected "${shape.value}"`);
      return;
    case 'array':
      if (!Array.isArray(value)) return bad(`expected an array, got ${typeName(value)}`);
      if (shape.minItems !== undefined && value.length < shape.minItems) return bad(`needs ${shape.minItems}+ items`);
      if (shape.maxItems !== undefined && value.length > shape.maxItems) return bad(`allows ${shape.maxItems} items`);
      value.forEach((item: unknown, index) => {
        if (item !== null) checkShape(item, shape.items, `${pointer}/${index}`, ctx, depth + 1);
      });
      return;
    case 'object': {
      if (!isObject(value)) return bad(`expected an object, got ${typeName(value)}`);
      for (const [name, field] of Object.entries<Field>(shape.fields)) {
        if (field.required === true && value[name] === undefined) {
          ctx.out.add('SCHEMA_INVALID', `${pointer}/${escapePointer(name)}`, `missing required field "${name}"`);
        }
      }
      for (const [name, item] of Object.entries(value)) {
        const field = shape.fields[name];
        const at = `${pointer}/${escapePointer(name)}`;
        if (field === undefined) ctx.out.add('SCHEMA_INVALID', at, `unknown field "${name}"`);
        else checkShape(item, field, at, ctx, depth + 1);
      }
      return;
    }
    case 'map':
      if (!isObject(value)) return bad(`expected an object, got ${typeName(value)}`);
      for (const [name, item] of Object.entries(value)) {
        const at = `${pointer}/${escapePointer(name)}`;
        // Keys with twin-forbidden characters are reported as KEY_INVALID by the twin check.
        if (!/[.$#\s]/.test(name) && name.length > 0 && !identifierPattern.test(name)) {
          ctx.out.add('SCHEMA_INVALID', at, 'key is not an identifier ([A-Za-z_][A-Za-z0-9_-]*, at most 64)');
        }
        checkShape(item, shape.values, at, ctx, depth + 1);
      }
      return;
    case 'union': {
      // Accept the first option that reports nothing; otherwise report the closest (fewest problems).
      let best: ValidationProblem[] | undefined;
      for (const option of shape.options) {
        const trial = new Collector(50);
        checkShape(value, option, pointer, { ...ctx, out: trial }, depth + 1);
        if (trial.problems.length === 0) return;
        if (best === undefined || trial.problems.length < best.length) best = trial.problems;
      }
      for (const problem of best ?? []) ctx.out.add(problem.code, problem.pointer, problem.message, problem.position);
      return;
    }
    case 'tagged': {
      if (!isObject(value)) return bad(`expected an object, got ${typeName(value)}`);
      const tag = value[shape.tag];
      const variant = typeof tag === 'string' ? shape.variants[tag] : undefined;
      if (variant === undefined) {
        ctx.out.add(
          'SCHEMA_INVALID',
          `${pointer}/${shape.tag}`,
          `"${shape.tag}" must be one of ${Object.keys(shape.variants).join(', ')}`,
        );
        return;
      }
      checkShape(value, variant, pointer, ctx, depth + 1);
      return;
    }
  }
}

function checkParameterDefaults(definition: Record<string, unknown>, out: Collector): void {
  const parameters = definition['parameters'];
  if (!isObject(parameters)) return;
  for (const [name, spec] of Object.entries(parameters)) {
    if (!isObject(spec) || spec['default'] === undefined) continue;
    const value = spec['default'];
    const at = `/parameters/${escapePointer(name)}/default`;
    const type = spec['type'];
    const typeOk =
      (type === 'number' && typeof value === 'number') ||
      (type === 'integer' && Number.isInteger(value)) ||
      (type === 'string' && typeof value === 'string') ||
      (type === 'boolean' && typeof value === 'boolean') ||
      (type === 'array' && Array.isArray(value)) ||
      (type === 'object' && isObject(value));
    if (!typeOk) {
      out.add('PARAMETER_DEFAULT_INVALID', at, `default is not of type ${String(type)}`);
      continue;
    }
    if (typeof value === 'number') {
      if (typeof spec['min'] === 'number' && value < spec['min']) out.add('PARAMETER_DEFAULT_INVALID', at, 'below min');
      if (typeof spec['max'] === 'number' && value > spec['max']) out.add('PARAMETER_DEFAULT_INVALID', at, 'above max');
    }
    const allowed = spec['enum'];
    if (
      Array.isArray(allowed) &&
      (typeof value === 'string' || typeof value === 'number') &&
      !allowed.includes(value)
    ) {
      out.add('PARAMETER_DEFAULT_INVALID', at, 'not one of the enum values');
    }
  }
}

/** All step ids a step refers to, each with the pointer suffix of the reference. */
export function stepReferences(step: Step): { ref: string; at: string; flow: boolean }[] {
  const refs: { ref: string; at: string; flow: boolean }[] = [];
  const record = step as unknown as Record<string, unknown>;
  const push = (value: unknown, at: string, flow: boolean): void => {
    if (typeof value === 'string') refs.push({ ref: value, at, flow });
  };
  push(record['next'], '/next', true);
  push(record['default'], '/default', true);
  push(record['onReject'], '/onReject', true);
  push(record['compensate'], '/compensate', false);
  push(record['iterator'], '/iterator', true);
  const arrays: [string, string | undefined, boolean][] = [
    ['choices', 'next', true],
    ['catch', 'next', true],
    ['escalate', 'next', true],
    ['branches', undefined, true],
  ];
  for (const [field, key, flow] of arrays) {
    const items = record[field];
    if (!Array.isArray(items)) continue;
    items.forEach((item: unknown, index) => {
      if (key === undefined) push(item, `/${field}/${index}`, flow);
      else if (isObject(item)) push(item[key], `/${field}/${index}/${key}`, flow);
    });
  }
  return refs;
}

function checkGraph(definition: WorkflowDefinition, out: Collector): void {
  const steps = definition.steps;
  const ids = Object.keys(steps);
  const edges = new Map<string, string[]>();
  for (const id of ids) {
    const step = steps[id];
    if (!isObject(step)) continue;
    edges.set(
      id,
      stepReferences(step)
        .map((r) => r.ref)
        .filter((ref) => Object.hasOwn(steps, ref)),
    );
  }
  // Reachability from the roots.
  const roots = [definition.start, definition.onAbort].filter(
    (r): r is string => typeof r === 'string' && Object.hasOwn(steps, r),
  );
  const seen = new Set<string>(roots);
  const queue = [...roots];
  for (let i = 0; i < queue.length && i < 100_000; i++) {
    for (const next of edges.get(queue[i] as string) ?? []) {
      if (!seen.has(next)) {
        seen.add(next);
        queue.push(next);
      }
    }
  }
  for (const id of ids) {
    if (!seen.has(id)) out.add('STEP_UNREACHABLE', `/steps/${escapePointer(id)}`, `no path reaches "${id}"`);
  }
  // Dead ends.
  for (const id of ids) {
    const step = steps[id] as unknown;
    if (!isObject(step) || typeof step['type'] !== 'string' || !FLOW_TYPES.has(step['type'])) continue;
    const at = `/steps/${escapePointer(id)}`;
    if (step['next'] === undefined && step['end'] !== true) {
      out.add('STEP_DEAD_END', at, `"${id}" has neither next nor end: true`);
    } else if (step['next'] !== undefined && step['end'] === true) {
      out.add('SCHEMA_INVALID', `${at}/end`, 'a step has either next or end: true, not both');
    }
  }
  // Busy loops: strongly connected components (Tarjan, iterative) without a waiting step.
  const flowEdges = new Map<string, string[]>();
  for (const id of ids) {
    const step = steps[id];
    if (!isObject(step)) continue;
    flowEdges.set(
      id,
      stepReferences(step)
        .filter((r) => r.flow && Object.hasOwn(steps, r.ref))
        .map((r) => r.ref),
    );
  }
  for (const component of stronglyConnected(ids, flowEdges)) {
    const first = component[0];
    if (first === undefined) continue;
    const loops = component.length > 1 || (flowEdges.get(first) ?? []).includes(first);
    if (!loops) continue;
    const waits = component.some((id) => {
      const step = steps[id] as unknown;
      return isObject(step) && typeof step['type'] === 'string' && WAITING_TYPES.has(step['type']);
    });
    if (!waits) {
      out.add(
        'BUSY_LOOP',
        `/steps/${escapePointer(first)}`,
        `steps ${component.map((c) => `"${c}"`).join(', ')} form a loop without a wait`,
      );
    }
  }
}

function stronglyConnected(nodes: string[], edges: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const result: string[][] = [];
  for (const root of nodes) {
    if (index.has(root)) continue;
    const work: { node: string; child: number }[] = [{ node: root, child: 0 }];
    index.set(root, counter);
    low.set(root, counter++);
    stack.push(root);
    onStack.add(root);
    for (let guard = 0; work.length > 0 && guard < 1_000_000; guard++) {
      const frame = work[work.length - 1] as { node: string; child: number };
      const children = edges.get(frame.node) ?? [];
      if (frame.child < children.length) {
        const child = children[frame.child++] as string;
        if (!index.has(child)) {
          index.set(child, counter);
          low.set(child, counter++);
          stack.push(child);
          onStack.add(child);
          work.push({ node: child, child: 0 });
        } else if (onStack.has(child)) {
          low.set(frame.node, Math.min(low.get(frame.node) ?? 0, index.get(child) ?? 0));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent !== undefined) low.set(parent.node, Math.min(low.get(parent.node) ?? 0, low.get(frame.node) ?? 0));
      if (low.get(frame.node) === index.get(frame.node)) {
        const component: string[] = [];
        for (let i = 0; i < 100_000; i++) {
          const member = stack.pop();
          if (member === undefined) break;
          onStack.delete(member);
          component.push(member);
          if (member === frame.node) break;
        }
        result.push(component);
      }
    }
  }
  return result;
}

function checkSemantics(definition: WorkflowDefinition, out: Collector): void {
  const resources = isObject(definition.resources) ? definition.resources : {};
  const checkRequires = (requires: unknown, at: string): void => {
    if (!Array.isArray(requires)) return;
    requires.forEach((req: unknown, index) => {
      if (isObject(req) && typeof req['resource'] === 'string' && !Object.hasOwn(resources, req['resource'])) {
        out.add('RESOURCE_UNDECLARED', `${at}/${index}/resource`, `resource "${req['resource']}" is not declared`);
      }
    });
  };
  checkRequires(definition.requires, '/requires');
  for (const [id, step] of Object.entries(definition.steps)) {
    if (!isObject(step)) continue;
    const at = `/steps/${escapePointer(id)}`;
    const record = step as Record<string, unknown>;
    checkRequires(record['requires'], `${at}/requires`);
    if (record['type'] === 'phase' && typeof record['unit'] === 'string' && !Object.hasOwn(resources, record['unit'])) {
      out.add('RESOURCE_UNDECLARED', `${at}/unit`, `unit "${record['unit']}" is not declared in resources`);
    }
    if (record['type'] === 'wait') {
      const kinds = ['durationMs', 'until', 'condition', 'event'].filter((k) => record[k] !== undefined);
      if (kinds.length !== 1) {
        out.add('WAIT_KIND_INVALID', at, `a wait needs exactly one of durationMs, until, condition, event`);
      }
    }
    const escalations = record['escalate'];
    if (Array.isArray(escalations)) {
      escalations.forEach((esc: unknown, index) => {
        if (!isObject(esc)) return;
        if (esc['afterMs'] === undefined && esc['afterFailures'] === undefined) {
          out.add('ESCALATION_INVALID', `${at}/escalate/${index}`, 'needs afterMs or afterFailures');
        }
        if (esc['action'] === 'jump' && esc['next'] === undefined) {
          out.add('ESCALATION_INVALID', `${at}/escalate/${index}/next`, 'a jump needs next');
        }
      });
    }
  }
  const triggers = definition.triggers;
  if (Array.isArray(triggers)) {
    triggers.forEach((trigger: unknown, index) => {
      if (!isObject(trigger) || trigger['kind'] !== 'schedule' || typeof trigger['cron'] !== 'string') return;
      const timezone = typeof trigger['timezone'] === 'string' ? trigger['timezone'] : undefined;
      const problem = checkCron(trigger['cron'], timezone);
      if (problem !== undefined) out.add('CRON_INVALID', `/triggers/${index}/cron`, problem);
    });
  }
}

function checkReference(reference: Record<string, unknown>, out: Collector, ctx: WalkContext): void {
  checkShape(reference, referenceShape, '', ctx, 0);
  const uri = reference['uri'];
  if (typeof uri === 'string' && /^[a-z][a-z0-9+.-]*:/i.test(uri) && !/^(https|file):/i.test(uri)) {
    out.add('REFERENCE_INVALID', '/uri', 'uri must be https:, file: or a relative path');
  }
}

/**
 * Validates a workflow definition (or a reference to one) and measures it against the twin limits.
 *
 * @example
 * const result = validateWorkflow(JSON.parse(text));
 * if (!result.valid) for (const p of result.problems) report(p.pointer, p.code, p.message);
 */
export function validateWorkflow(input: unknown, options: ValidateOptions = {}): ValidationResult {
  const out = new Collector(options.maxProblems ?? 200);
  const baseDepth = options.twinBaseDepth ?? defaultTwinBaseDepth;
  let twinStats: TwinStats = { bytes: 0, depth: 0, depthInTwin: 0, longestStringBytes: 0, longestStringPointer: '' };
  let kind: ValidationResult['kind'] = 'unknown';
  try {
    const twin = checkTwinLimits(input, baseDepth);
    twinStats = twin.stats;
    for (const v of twin.violations) {
      const code =
        v.kind === 'key'
          ? 'KEY_INVALID'
          : v.kind === 'nullInArray'
            ? 'NULL_IN_ARRAY'
            : v.kind === 'stringTooLong'
              ? 'TWIN_STRING_TOO_LONG'
              : v.kind === 'tooDeep'
                ? 'TWIN_TOO_DEEP'
                : 'TWIN_TOO_LARGE';
      out.add(code, v.pointer, v.detail);
    }
    if (!isObject(input)) {
      out.add('SCHEMA_INVALID', '', `expected a workflow definition object, got ${typeName(input)}`);
    } else if (input['uri'] !== undefined && input['steps'] === undefined) {
      kind = 'reference';
      checkReference(input, out, { out, stepIds: new Set(), parameterNames: new Set(), checkRefs: false });
    } else {
      kind = 'definition';
      const steps = isObject(input['steps']) ? input['steps'] : {};
      const parameters = isObject(input['parameters']) ? input['parameters'] : {};
      const ctx: WalkContext = {
        out,
        stepIds: new Set(Object.keys(steps)),
        parameterNames: new Set(Object.keys(parameters)),
        checkRefs: true,
      };
      checkShape(input, definitionShape, '', ctx, 0);
      checkParameterDefaults(input, out);
      if (isObject(input['steps'])) {
        const definition = input as unknown as WorkflowDefinition;
        checkSemantics(definition, out);
        checkGraph(definition, out);
      }
    }
  } catch (error) {
    // The validator must answer for any input; an internal failure is reported, not thrown.
    out.add('SCHEMA_INVALID', '', `could not validate: ${error instanceof Error ? error.message : String(error)}`);
  }
  const problems = out.problems;
  return {
    valid: problems.every((p) => p.severity !== 'error'),
    kind,
    problems,
    twin: {
      ...twinStats,
      maxBytes: twinLimits.maxDesiredBytes,
      maxDepth: twinLimits.maxDepth,
      maxStringBytes: twinLimits.maxStringBytes,
    },
  };
}

/** `validate(definition) → problems[]` (empty when valid). */
export function validate(definition: unknown, options: ValidateOptions = {}): ValidationProblem[] {
  return validateWorkflow(definition, options).problems;
}

/** Returns the definition typed, or throws `WF_DEFINITION_INVALID` with `details.problems`. */
export function parseWorkflow(definition: unknown, options: ValidateOptions = {}): WorkflowDefinition {
  const result = validateWorkflow(definition, options);
  if (result.kind !== 'definition' || !result.valid) {
    const first = result.problems[0];
    throw new WorkflowError(
      'WF_DEFINITION_INVALID',
      result.kind === 'reference'
        ? 'this is a reference: fetch the document and verify its sha256 first'
        : `definition has ${result.problems.length} problem(s)${first ? `, first ${first.code} at ${first.pointer || '/'}` : ''}`,
      { details: { problems: result.problems } },
    );
  }
  return definition as WorkflowDefinition;
}

/** Narrows to a reference (uri + sha256) when valid as one. */
export function isWorkflowReference(value: unknown): value is WorkflowReference {
  return validateWorkflow(value).kind === 'reference' && validate(value).length === 0;
}
