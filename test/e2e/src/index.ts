export {
  type AzureEndpoints,
  type ModuleProcess,
  type ModuleReadiness,
  type Suite,
  type SuiteOptions,
  batchDesired,
  discoverModules,
  readyLinePattern,
  repoRoot,
  startSuite,
} from './suite.js';
export {
  type InstanceView,
  MethodCallError,
  callMethod,
  createUser,
  getInstance,
  plantStates,
  startBatch,
  waitForInstance,
} from './batch.js';
export { type TopicMessage, digitalTwin, digitalTwinsWrites, openTopicReader } from './azure.js';
export {
  type AuditEntry,
  type PlantSnapshot,
  auditRecords,
  deviceWrites,
  plantSnapshot,
  plantValue,
  verifyAuditChain,
} from './batch.js';
