/**
 * @takt/orchestrator: the durable workflow engine wired to IoT Edge — definitions from the module
 * twin, triggers, device commands through the opcua-connector, status/audit/alerts through edgeHub,
 * human tasks with e-signatures, and the local console API.
 */
export { OrchestratorError, type OrchestratorErrorCode, errorCatalog } from './errors.js';
export { type ResolvedOrchestratorConfig, envSchema, resolveOrchestratorConfig } from './config.js';
export {
  type Actor,
  type DecisionRequest,
  type InvokeModule,
  Orchestrator,
  type OrchestratorOptions,
  type StartAnswer,
  type StartRequest,
} from './app/orchestrator.js';
export {
  type OrchestratorModule,
  type OrchestratorModuleOptions,
  orderSchema,
  startOrchestratorModule,
  tagMessageSchema,
} from './app/module.js';
export { type TagMessage, TagRouter } from './app/tag-router.js';
export { DefinitionRegistry, problemLine } from './domain/definitions.js';
export { DeviceError, type DeviceErrorCode, deviceErrorCode, toDeviceError } from './domain/device-errors.js';
export { type Recipe, type ResolvedSettings, recipeSchema, settingsSchema } from './domain/settings.js';
export { LoginLimiter, Sessions, type User, UserStore, baseRoles, hasRole } from './domain/users.js';
export { ConnectorClient, type ConnectorClientOptions } from './edge/connector.js';
export { type AlertMessage, type AuditRecord, Emitter, type StatusEvent, stableId } from './edge/emitter.js';
export { orchestratorMethods } from './edge/methods.js';
export { type HttpServer, createHttpServer } from './http/server.js';
export { type WorkflowTelemetry, loadTelemetry, noTelemetry } from './telemetry/telemetry.js';
