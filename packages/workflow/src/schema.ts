/**
 * One description of the language's shape, used twice: rendered as JSON Schema (draft 2020-12) for
 * editors and the designer, and walked by the validator for `SCHEMA_INVALID` problems with pointers.
 * Keeping both in one table is what keeps them from drifting apart.
 */

export type Shape =
  | { t: 'string'; maxLength?: number; pattern?: RegExp; enum?: readonly string[]; description?: string }
  | { t: 'id'; description?: string }
  | { t: 'stepRef'; description?: string }
  | { t: 'expr'; description?: string }
  | { t: 'template'; description?: string }
  | { t: 'number'; min?: number; max?: number; integer?: boolean; description?: string }
  | { t: 'boolean'; description?: string }
  | { t: 'const'; value: string }
  | { t: 'array'; items: Shape; minItems?: number; maxItems?: number; description?: string }
  | { t: 'object'; fields: Readonly<Record<string, Field>>; description?: string }
  | { t: 'map'; values: Shape; description?: string }
  | { t: 'union'; options: readonly Shape[]; description?: string }
  | { t: 'tagged'; tag: string; variants: Readonly<Record<string, Shape & { t: 'object' }>>; description?: string };

export type Field = Shape & { required?: boolean };

/** Twin-safe identifiers: no `.`, `$`, `#` or whitespace, and short. */
export const identifierPattern = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;
/** Error codes: upper snake case. */
export const errorCodePattern = /^[A-Z][A-Z0-9_]{0,63}$/;

const str = (extra: Partial<{ maxLength: number; description: string }> = {}): Shape => ({ t: 'string', ...extra });
const num = (extra: Partial<{ min: number; max: number; integer: boolean; description: string }> = {}): Shape => ({
  t: 'number',
  ...extra,
});
const req = <S extends Shape>(shape: S): S & { required: true } => ({ ...shape, required: true });
const list = (items: Shape, extra: Partial<{ minItems: number; maxItems: number }> = {}): Shape => ({
  t: 'array',
  items,
  ...extra,
});
const obj = (fields: Record<string, Field>, description?: string): Shape & { t: 'object' } =>
  description === undefined ? { t: 'object', fields } : { t: 'object', fields, description };
const enm = (...values: string[]): Shape => ({ t: 'string', enum: values });
const expr: Shape = { t: 'expr' };
const template: Shape = { t: 'template' };
const stepRef: Shape = { t: 'stepRef' };
const ms = (description?: string): Shape =>
  description === undefined ? num({ min: 0, integer: true }) : num({ min: 0, integer: true, description });
const codeList: Shape = list({ t: 'string', pattern: /^(\*|[A-Z][A-Z0-9_]{0,63})$/ }, { minItems: 1 });

const retryPolicy = obj({
  errors: req(codeList),
  intervalMs: ms(),
  backoffRate: num({ min: 1, max: 10 }),
  maxDelayMs: ms(),
  jitter: enm('none', 'full', 'equal'),
  maxAttempts: num({ min: 1, max: 100, integer: true }),
});

const catchClause = obj({
  errors: req(codeList),
  next: req(stepRef),
  errorVar: { t: 'id' },
  compensate: { t: 'boolean' },
});

const escalation = obj({
  afterMs: ms(),
  afterFailures: num({ min: 1, max: 100, integer: true }),
  action: req(enm('operator', 'alert', 'jump')),
  next: stepRef,
  roles: list({ t: 'id' }),
  message: str({ maxLength: 1024 }),
  severity: enm('info', 'warning', 'critical'),
});

const requirement = obj({
  resource: req({ t: 'id' }),
  priority: num({ min: -1000, max: 1000, integer: true }),
  timeoutMs: ms(),
});

const interlock = obj({
  condition: req(expr),
  tags: list(str({ maxLength: 256 })),
  onBreach: req(enm('hold', 'abort')),
  message: str({ maxLength: 1024 }),
});

const common: Record<string, Field> = {
  type: req({ t: 'string' }),
  title: str({ maxLength: 200 }),
  description: str({ maxLength: 2000 }),
  next: stepRef,
  end: { t: 'boolean' },
  retry: list(retryPolicy, { maxItems: 10 }),
  catch: list(catchClause, { maxItems: 20 }),
  timeoutMs: ms(),
  compensate: stepRef,
  escalate: list(escalation, { maxItems: 5 }),
  requires: list(requirement, { maxItems: 10 }),
  interlocks: list(interlock, { maxItems: 10 }),
  resultVar: { t: 'id' },
};

const { next: _next, end: _end, ...commonNoNext } = common;
const templateMap: Shape = { t: 'map', values: template };
const msOrExpr: Shape = { t: 'union', options: [ms(), expr] };

const stepShapes: Record<string, Shape & { t: 'object' }> = {
  action: obj({
    ...common,
    action: req(enm('opcua.read', 'opcua.write', 'opcua.call', 'publish', 'audit', 'invoke', 'set')),
    args: templateMap,
    inDoubt: enm('readBack', 'idempotent', 'askOperator'),
  }),
  choice: obj({
    ...commonNoNext,
    choices: req(list(obj({ when: req(expr), next: req(stepRef) }), { minItems: 1, maxItems: 50 })),
    default: stepRef,
  }),
  wait: obj({
    ...common,
    durationMs: msOrExpr,
    until: msOrExpr,
    condition: expr,
    tags: list(str({ maxLength: 256 })),
    event: { t: 'id' },
    onLate: enm('fire', 'fail'),
    lateToleranceMs: ms(),
  }),
  parallel: obj({
    ...common,
    branches: req(list(stepRef, { minItems: 1, maxItems: 50 })),
    join: { t: 'union', options: [enm('all', 'any'), num({ min: 1, max: 50, integer: true })] },
  }),
  forEach: obj({
    ...common,
    items: req(expr),
    iterator: req(stepRef),
    concurrency: num({ min: 1, max: 100, integer: true }),
  }),
  subworkflow: obj({
    ...common,
    workflow: req({ t: 'id' }),
    version: str({ maxLength: 64 }),
    parameters: templateMap,
  }),
  approval: obj({
    ...common,
    roles: req(list({ t: 'id' }, { minItems: 1 })),
    instructions: req(str({ maxLength: 4000 })),
    meaning: str({ maxLength: 200 }),
    signature: { t: 'boolean' },
    onReject: stepRef,
  }),
  phase: obj({
    ...common,
    unit: req({ t: 'id' }),
    phase: req(str({ maxLength: 128 })),
    parameters: templateMap,
    model: enm('packml', 'isa88'),
    commands: obj({
      hold: enm('hold', 'suspend', 'none'),
      restart: enm('restart', 'unsuspend', 'none'),
      stop: enm('stop', 'abort', 'none'),
      abort: enm('abort', 'stop', 'none'),
    }),
  }),
  succeed: obj({
    type: req({ t: 'string' }),
    title: str({ maxLength: 200 }),
    description: str({ maxLength: 2000 }),
    output: templateMap,
  }),
  fail: obj({
    type: req({ t: 'string' }),
    title: str({ maxLength: 200 }),
    description: str({ maxLength: 2000 }),
    error: req({ t: 'string', pattern: errorCodePattern }),
    message: template,
    compensate: { t: 'boolean' },
  }),
};

const parameterSpec = obj({
  type: req(enm('number', 'integer', 'string', 'boolean', 'object', 'array')),
  description: str({ maxLength: 1000 }),
  unit: str({ maxLength: 32 }),
  min: num(),
  max: num(),
  enum: list({ t: 'union', options: [str({ maxLength: 256 }), num()] }, { minItems: 1, maxItems: 100 }),
  maxLength: num({ min: 0, integer: true }),
  default: template,
  required: { t: 'boolean' },
});

const triggerCommon: Record<string, Field> = {
  kind: req({ t: 'string' }),
  parameters: templateMap,
  idempotencyKey: template,
  enabled: { t: 'boolean' },
};

const trigger: Shape = {
  t: 'tagged',
  tag: 'kind',
  variants: {
    method: obj({ ...triggerCommon }),
    message: obj({ ...triggerCommon, input: req({ t: 'id' }), filter: expr }),
    tag: obj({
      ...triggerCommon,
      tags: req(list(str({ maxLength: 256 }), { minItems: 1 })),
      condition: req(expr),
      debounceMs: ms(),
      deadband: num({ min: 0 }),
    }),
    schedule: obj({
      ...triggerCommon,
      cron: req(str({ maxLength: 128 })),
      timezone: str({ maxLength: 64 }),
      missedRuns: enm('skip', 'runOnce', 'runAll'),
      maxCatchUp: num({ min: 1, max: 1000, integer: true }),
    }),
  },
};

/** The shape of a step, by type. */
export const stepShape: Shape = { t: 'tagged', tag: 'type', variants: stepShapes };

/** The shape of a full definition. */
export const definitionShape: Shape & { t: 'object' } = obj(
  {
    language: { t: 'const', value: 'takt.workflow/v1' },
    id: req({ t: 'id' }),
    version: req(str({ maxLength: 64 })),
    title: str({ maxLength: 200 }),
    description: str({ maxLength: 4000 }),
    parameters: { t: 'map', values: parameterSpec },
    variables: templateMap,
    outputs: { t: 'map', values: obj({ value: req(template), description: str(), unit: str({ maxLength: 32 }) }) },
    resources: {
      t: 'map',
      values: obj({ kind: enm('unit', 'equipment', 'lock'), description: str(), address: str({ maxLength: 512 }) }),
    },
    errors: {
      t: 'map',
      values: obj({ summary: req(str({ maxLength: 1000 })), retryable: { t: 'boolean' } }),
    },
    triggers: list(trigger, { maxItems: 20 }),
    start: req(stepRef),
    steps: req({ t: 'map', values: stepShape }),
    timeoutMs: ms(),
    onAbort: stepRef,
    requires: list(requirement, { maxItems: 10 }),
    interlocks: list(interlock, { maxItems: 20 }),
    compensateOnFailure: { t: 'boolean' },
  },
  'A Takt workflow definition (takt.workflow/v1).',
);

/** The shape of a definition delivered by reference. */
export const referenceShape: Shape & { t: 'object' } = obj(
  {
    id: req({ t: 'id' }),
    version: req(str({ maxLength: 64 })),
    uri: req(str({ maxLength: 2048 })),
    sha256: req({ t: 'string', pattern: /^[0-9a-f]{64}$/ }),
    title: str({ maxLength: 200 }),
  },
  'A workflow definition delivered by reference: fetched once from `uri`, verified against `sha256`.',
);

// ---------------------------------------------------------------------------------------------- JSON Schema

type SchemaNode = { [key: string]: unknown };

const expressionPattern = '^\\s*\\{\\{[\\s\\S]*\\}\\}\\s*$';

function toSchema(shape: Shape): SchemaNode {
  const described = (node: SchemaNode): SchemaNode =>
    'description' in shape && shape.description !== undefined ? { ...node, description: shape.description } : node;
  switch (shape.t) {
    case 'string': {
      const node: SchemaNode = { type: 'string' };
      if (shape.maxLength !== undefined) node['maxLength'] = shape.maxLength;
      if (shape.pattern !== undefined) node['pattern'] = shape.pattern.source;
      if (shape.enum !== undefined) node['enum'] = [...shape.enum];
      return described(node);
    }
    case 'id':
      return described({ type: 'string', pattern: identifierPattern.source });
    case 'stepRef':
      return described({ $ref: '#/$defs/stepId' });
    case 'expr':
      return described({ $ref: '#/$defs/expression' });
    case 'template':
      return described({ $ref: '#/$defs/template' });
    case 'number': {
      const node: SchemaNode = { type: shape.integer === true ? 'integer' : 'number' };
      if (shape.min !== undefined) node['minimum'] = shape.min;
      if (shape.max !== undefined) node['maximum'] = shape.max;
      return described(node);
    }
    case 'boolean':
      return described({ type: 'boolean' });
    case 'const':
      return { const: shape.value };
    case 'array': {
      const node: SchemaNode = { type: 'array', items: toSchema(shape.items) };
      if (shape.minItems !== undefined) node['minItems'] = shape.minItems;
      if (shape.maxItems !== undefined) node['maxItems'] = shape.maxItems;
      return described(node);
    }
    case 'object': {
      const properties: SchemaNode = {};
      const required: string[] = [];
      for (const [name, field] of Object.entries(shape.fields)) {
        properties[name] = toSchema(field);
        if (field.required === true) required.push(name);
      }
      return described({
        type: 'object',
        properties,
        ...(required.length > 0 ? { required } : {}),
        additionalProperties: false,
      });
    }
    case 'map':
      return described({
        type: 'object',
        propertyNames: { pattern: identifierPattern.source },
        additionalProperties: toSchema(shape.values),
      });
    case 'union':
      return described({ anyOf: shape.options.map(toSchema) });
    case 'tagged':
      return described({
        type: 'object',
        required: [shape.tag],
        oneOf: Object.entries(shape.variants).map(([tag, variant]) => {
          const node = toSchema(variant);
          const properties = node['properties'] as SchemaNode;
          properties[shape.tag] = { const: tag };
          return node;
        }),
      });
  }
}

function buildJsonSchema(): SchemaNode {
  const definition = toSchema(definitionShape);
  const reference = toSchema(referenceShape);
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://takt.dev/schemas/workflow/v1.json',
    title: 'Takt workflow definition (takt.workflow/v1)',
    description:
      'A workflow definition (steps in a flat map keyed by id) or a reference to one. Structural checks only: ' +
      'the validator of @takt/workflow also checks references, reachability, busy loops, expressions and twin limits.',
    anyOf: [{ $ref: '#/$defs/definition' }, { $ref: '#/$defs/reference' }],
    $defs: {
      definition,
      reference,
      stepId: { type: 'string', pattern: identifierPattern.source },
      expression: { type: 'string', pattern: expressionPattern, description: 'A JSONata expression as "{{ … }}".' },
      template: {
        description: 'Any JSON without null inside arrays; strings "{{ … }}" are evaluated as JSONata.',
        anyOf: [
          { type: ['string', 'number', 'boolean', 'null'] },
          { type: 'array', items: { $ref: '#/$defs/template', not: { type: 'null' } } },
          {
            type: 'object',
            propertyNames: { pattern: identifierPattern.source },
            additionalProperties: { $ref: '#/$defs/template' },
          },
        ],
      },
    },
  };
}

/** The JSON Schema (draft 2020-12) of the workflow language. */
export const workflowJsonSchema: Readonly<Record<string, unknown>> = Object.freeze(buildJsonSchema());
