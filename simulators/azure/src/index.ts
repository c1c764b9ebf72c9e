export {
  type AppInsightsEmulator,
  type AppInsightsEmulatorOptions,
  type TelemetryEnvelope,
  startAppInsightsEmulator,
} from './app-insights/server.js';
export {
  type DigitalTwinsEmulator,
  type DigitalTwinsEmulatorOptions,
  type TwinWrite,
  startDigitalTwinsEmulator,
} from './digital-twins/server.js';
export { type PatchOperation, applyPatch, parsePatch } from './digital-twins/json-patch.js';
export { compileQuery } from './digital-twins/query.js';
export {
  type AzureEmulators,
  type AzureEmulatorsOptions,
  defaultServiceBusEntities,
  startAzureEmulators,
} from './emulators.js';
export { type Pausable } from './endpoint.js';
export { SimAzureError, type SimAzureErrorCode, errorCatalog } from './errors.js';
export {
  type CloudEventJson,
  type EventGridEmulator,
  type EventGridEmulatorOptions,
  startEventGridEmulator,
} from './event-grid/server.js';
export { Broker, MessageStore, type ServiceBusEntities, type StoredMessage } from './service-bus/broker.js';
export { verifySasToken } from './service-bus/sas.js';
export {
  type ServiceBusEmulator,
  type ServiceBusEmulatorOptions,
  startServiceBusEmulator,
} from './service-bus/server.js';
export { type Filter, type FilterInput, FilterSyntaxError, compileFilter } from './service-bus/sql-filter.js';
export { type TlsMaterial, tlsMaterial } from './tls.js';
