/**
 * @takt/sim-opcua-plant — a small batch plant as a real OPC UA server. See README.md.
 */
export { type PlantErrorCode, PlantError, errorCatalog } from './errors.js';
export { type ResolvedPlantConfig, resolveConfig } from './config.js';
export {
  DEFAULT_LAYOUT_FILE,
  type ResolvedAlarm,
  type ResolvedLayout,
  type ResolvedTag,
  type ResolvedUnit,
  findTag,
  findUnit,
  loadLayout,
  parseLayout,
} from './layout/layout.js';
export { KIND_ALARMS, KIND_LINKS, KIND_PARAMETERS, KIND_TAGS, UNIT_KINDS, type UnitKind } from './layout/kinds.js';
export { ENGINEERING_UNITS, type EngineeringUnit } from './layout/units.js';
export { type Fault, type FaultKind, MODEL_FAULT_KINDS, SERVER_FAULT_KINDS } from './model/faults.js';
export {
  ACTING_STATES,
  PACKML_COMMANDS,
  PACKML_STATES,
  type PackmlCommand,
  type PackmlState,
  allowedCommands,
  nextStateForCommand,
} from './model/packml.js';
export {
  type CommandOutcome,
  EMERGENCY_STOP_PATH,
  type FaultRequest,
  MAX_STEP_MS,
  type PlantState,
  type TagValue,
  type UnitState,
  type WriteOutcome,
  applyCommand,
  clearFault,
  createPlantState,
  injectFault,
  measured,
  reportedValues,
  setEmergencyStop,
  stepPlant,
  writeTag,
} from './model/plant.js';
export { PLANT_NAMESPACE_URI } from './opcua/address-space.js';
export { type PlantClient, type PlantClientOptions, connectPlantClient } from './opcua/client.js';
export { loadClientLibrary, primeHostname, routeNodeOpcuaLogs } from './opcua/node-opcua.js';
export {
  PlantServer,
  type PlantServerOptions,
  type PlantUser,
  SECURITY_MODES,
  type SecurityModeName,
} from './opcua/plant-server.js';
export { type RunningPlant, type StartPlantOptions, startPlant } from './plant.js';
export { type Clock, realClock } from './runtime/clock.js';
export { type DiagnosticsServer, startDiagnostics } from './runtime/diagnostics-http.js';
export {
  type PlantRuntimeOptions,
  type PlantSnapshot,
  PlantRuntime,
  type PublishedValue,
} from './runtime/plant-runtime.js';
