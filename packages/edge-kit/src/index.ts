export {
  type CodedError,
  EdgeKitError,
  type EdgeKitErrorCode,
  type ErrorBody,
  type ErrorCatalog,
  type ErrorCodeInfo,
  TaktError,
  type TaktErrorOptions,
  errorCatalog,
  errorMessage,
  isCodedError,
  isRetryable,
} from './errors.js';
export {
  type LogFields,
  type LogLevel,
  type Logger,
  type LoggerOptions,
  createLogger,
  formatLogLine,
  parseLogLevel,
  redact,
  redactText,
  silentLogger,
} from './logger.js';
export {
  type ConfigProblem,
  type ConfigResult,
  type DeepReadonly,
  configProblems,
  deepFreeze,
  envBoolean,
  parseConfig,
  resolveConfig,
} from './config.js';
export { abortError, sleep, throwIfAborted, withTimeout } from './resilience/abort.js';
export { type RetryOptions, backoffDelayMs, retry } from './resilience/retry.js';
export {
  CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitBreakerStats,
  type CircuitState,
} from './resilience/circuit-breaker.js';
export {
  type CloseReport,
  type Component,
  Lifecycle,
  type LifecycleOptions,
  type MainContext,
  type RunMainOptions,
  onceClose,
  runMain,
} from './lifecycle.js';
export {
  Counter,
  Gauge,
  Histogram,
  type MetricsServer,
  type MetricsServerOptions,
  Registry,
  Summary,
  createMetricsServer,
} from './metrics.js';
export {
  type Migration,
  type OpenDatabaseOptions,
  type SqliteDatabase,
  applyMigrations,
  openDatabase,
} from './store/database.js';
export {
  Outbox,
  type OutboxEntry,
  type OutboxMessage,
  type OutboxOptions,
  OutboxSender,
  type OutboxSenderOptions,
  type OutboxSenderStats,
} from './store/outbox.js';
export { Inbox, type InboxOptions, type InboxResult } from './store/inbox.js';
export {
  type AcceptedChange,
  type BindResult,
  type JsonObject,
  type PnpAck,
  type PropertyVerdict,
  type RejectedChange,
  type RemovedEntry,
  TwinBinder,
  type WritableProperty,
  isJsonObject,
  mergePatch,
  pnpAck,
} from './twin.js';
export {
  type InputHandler,
  type InputMessage,
  MAX_METHOD_PAYLOAD_BYTES,
  MAX_REPORTED_BYTES,
  type MethodDefinition,
  type ModuleClientEvents,
  type ModuleConnectionState,
  SupervisedModuleClient,
  type SupervisedModuleClientOptions,
  defineMethod,
} from './edge/module-client.js';
export { enableTcpNoDelay } from './edge/tcp-nodelay.js';
export {
  type AppInsightsOptions,
  type Telemetry,
  type TraceSeverity,
  createTelemetry,
  parseAppInsightsConnectionString,
} from './telemetry/app-insights.js';
export { type TelemetrySamplerOptions, telemetrySampler } from './telemetry/sampler.js';
