export { AuditError, type AuditErrorCode, errorCatalog } from './errors.js';
export { CanonicalizeError, canonicalize } from './domain/jcs.js';
export {
  type AuditRecord,
  type AuditRecordInput,
  AuditRecordSchema,
  type JsonValue,
  MAX_RECORD_BYTES,
} from './domain/record.js';
export {
  type BreakReason,
  CHAIN_VERSION,
  type ChainBreak,
  type ChainLink,
  ChainVerifier,
  GENESIS_HASH,
  type StoredRow,
  indexColumns,
  linkHash,
  linkHashFromCanonical,
  macKeyId,
  macOf,
} from './domain/chain.js';
export {
  type AppendOutcome,
  AuditStore,
  type AuditStoreOptions,
  type ChainedRecord,
  FORWARD_OUTBOX,
  FORWARD_OUTPUT,
  type PruneOptions,
  type PruneReport,
  type QueryFilter,
  type QueryPage,
  type VerifyReport,
  validateRecord,
} from './store/audit-store.js';
export { auditMigrations } from './store/schema.js';
export { GroupWriter, type GroupWriterOptions } from './store/group-writer.js';
export { type BatchReport, buildBatchReport, escapeHtml, renderBatchReportHtml } from './report/batch-report.js';
export { type TextPage, pageText } from './report/paging.js';
export { AuditService, type AuditServiceOptions, type AuditStats } from './edge/audit-service.js';
export { AuditModule, type AuditModuleOptions } from './edge/audit-module.js';
export { EnvSchema, type ResolvedAuditConfig, type Settings, SettingsSchema, resolveEnv } from './config.js';
export { type CliResult, runCli } from './cli/commands.js';
