export {
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
