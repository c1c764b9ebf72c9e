export { type ChildHandle, type SpawnChildOptions, spawnChild, spawnTs, tsNodeArgs } from './child.js';
export {
  type EgressViolation,
  type WorkerEgressGuard,
  egressGuardPath,
  installEgressGuardForWorker,
  loadEgressGuard,
  nodeOptionsWithGuard,
  workerEgressGuard,
} from './egress.js';
export { freePort } from './ports.js';
export { type TempDir, createTempDir } from './temp.js';
export { WaitTimeoutError, type WaitForOptions, waitFor } from './wait.js';
