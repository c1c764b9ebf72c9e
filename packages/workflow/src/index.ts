/**
 * @takt/workflow: the Takt workflow language (types, JSON Schema, validator, expressions). Browser
 * safe: no Node-only dependencies. Reference: docs/workflow-language.md.
 */
export type {
  ActionKind,
  ActionStep,
  ApprovalStep,
  CatchClause,
  ChoiceRule,
  ChoiceStep,
  ErrorSpec,
  Escalation,
  Expression,
  FailStep,
  ForEachStep,
  InDoubtPolicy,
  Interlock,
  Json,
  JsonObject,
  MessageTrigger,
  MethodTrigger,
  OutputSpec,
  ParallelStep,
  ParameterSpec,
  PhaseCommand,
  PhaseStep,
  ResourceRequirement,
  ResourceSpec,
  RetryPolicy,
  ScheduleTrigger,
  Step,
  StepBase,
  StepType,
  SubworkflowStep,
  SucceedStep,
  TagTrigger,
  Template,
  Trigger,
  ValueType,
  WaitStep,
  WorkflowDefinition,
  WorkflowReference,
} from './types.js';
export { WorkflowError, type WorkflowErrorCode, type WorkflowErrorOptions, errorCatalog } from './errors.js';
export {
  type CompiledExpression,
  type EvaluateOptions,
  type ExpressionLimits,
  compileExpression,
  defaultExpressionLimits,
  evaluateTemplate,
  hasExpression,
  isExpression,
  isTruthy,
  templateExpressions,
  toJson,
} from './expressions.js';
export { type Shape, definitionShape, identifierPattern, stepShape, workflowJsonSchema } from './schema.js';
export {
  type TwinStats,
  type TwinViolation,
  checkTwinLimits,
  defaultTwinBaseDepth,
  twinLimits,
  utf8Bytes,
} from './twin-limits.js';
export { TagTriggerFilter, type TagFilterOptions, checkCron, scheduleRuns } from './triggers.js';
export {
  type ProblemCode,
  type ValidateOptions,
  type ValidationProblem,
  type ValidationResult,
  parseWorkflow,
  problemCatalog,
  stepReferences,
  validate,
  validateWorkflow,
} from './validate.js';
export { runtimeErrorCatalog, type RuntimeErrorCode, matchesError } from './runtime-errors.js';
