/** JSON shapes of the control API (shared by server and client). */

export interface ControlStatus {
  deviceId: string;
  hubHostName: string;
  online: boolean;
  frozen: boolean;
  modules: { moduleId: string; connected: boolean; inputsSubscribed: boolean; methodsSubscribed: boolean }[];
  queues: { endpoint: string; priority: number; count: number }[];
}

/** A message as the local "cloud" received it. */
export interface UpstreamMessage {
  /** Arrival order in the cloud sink (1, 2, …). */
  seq: number;
  /** Route priority it travelled with (0 highest; 2000000000 = unset). */
  priority: number;
  enqueuedAt: string;
  receivedAt: string;
  /** `connectionModuleId` of the sender. */
  moduleId: string | undefined;
  outputName: string | undefined;
  /** The body as UTF-8 text. */
  body: string;
  /** The body as base64 (for binary payloads). */
  bodyBase64: string;
  systemProperties: Record<string, string>;
  properties: Record<string, string>;
}

/** What a runner needs to start a module as a child process. */
export interface ModuleEnvironment {
  moduleId: string;
  /** Environment variables for `ModuleClient.fromEnvironment(Mqtt)`. */
  env: Record<string, string>;
}

export type EnvMode = 'connection-string' | 'workload';

export interface MethodResult {
  status: number;
  payload: unknown;
}
