export { type CertificateSet, ensureCertificates } from './certs.js';
export { type ControlClientOptions, EdgeHubControlClient, type RequestOptions } from './control/control-client.js';
export type {
  ControlStatus,
  EnvMode,
  MethodResult,
  ModuleEnvironment,
  UpstreamMessage,
} from './control/control-types.js';
export { type EdgeHubHandle, type EdgeHubOptions, startEdgeHub } from './edge-hub.js';
export { EdgeHubError, type EdgeHubErrorCode, errorCatalog } from './errors.js';
export { createSas, parseSas, verifySas } from './identity/sas.js';
export { type Deployment, parseDeployment, readDeploymentFile } from './manifest/deployment.js';
export { chunkCreateOptions, moduleImageFromFolder, type RenderOptions, renderTemplate } from './manifest/render.js';
export {
  type ManifestSchema,
  type ManifestValidator,
  createManifestValidator,
  defaultSchemaDir,
  validateRenderedManifest,
} from './manifest/validate.js';
export { type Condition, type ConditionInput, compileCondition } from './routing/condition.js';
export { type EdgeMessage, formatPropertyBag, parsePropertyBag } from './routing/message.js';
export { type Endpoint, type Route, type RouteSpec, compileRoute, routeMessage } from './routing/routes.js';
export { checkTwinPatch, mergePatch, twinSize } from './twin/twin-rules.js';
