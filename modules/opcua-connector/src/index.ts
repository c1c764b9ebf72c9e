/**
 * @takt/opcua-connector — the OPC UA connector module (OPC Publisher-compatible publishing, commands
 * for the orchestrator). See README.md. node-opcua is loaded lazily: importing this stays cheap.
 */
export { ConnectorError, type ConnectorErrorCode, errorCatalog } from './errors.js';
export {
  type EndpointSpec,
  type MonitoredNodeSpec,
  type PublishedNode,
  type PublishedNodesEntry,
  PublishedNodesEntrySchema,
  PublishedNodesFileSchema,
  endpointSpecOf,
  monitoredNodesOf,
  nodesOnEndpoint,
  parseTimespanMs,
  publishNodes,
  unpublishAll,
  unpublishNodes,
} from './config/published-nodes.js';
export { DEFAULT_SETTINGS, EnvSchema, type Settings, SettingsSchema } from './config/settings.js';
export {
  type EncodeContext,
  type MessageEncoding,
  type ValueChange,
  encodeBatch,
  encodePubSub,
  encodeSamples,
} from './encoding/messages.js';
export {
  AUDIT_SOURCE_MODULE,
  type ConnectorAuditRecord,
  MAX_AUDIT_VALUE_CHARS,
  type WriteAuditFacts,
  auditValue,
  writeAuditRecord,
} from './encoding/audit-record.js';
export { valueToJson } from './encoding/variant-json.js';
export { coerceValue, sameValue } from './opcua/coerce.js';
export { chooseEndpoint, type EndpointHealth, type GapReport } from './opcua/endpoint-session.js';
export { errorForStatus, mappingForStatus, translateError } from './opcua/status.js';
export { OpcuaConnector, twinKey } from './connector.js';
export {
  BrowsePayload,
  CallPayload,
  ReadPayload,
  UnwatchPayload,
  WatchPayload,
  WritePayload,
  connectorMethods,
} from './edge/methods.js';
export { type ConnectorModule, type ConnectorModuleOptions, startConnectorModule } from './edge/module.js';
