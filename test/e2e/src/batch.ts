/**
 * Helpers to drive the sample batch on a running {@link Suite}: direct methods as IoT Hub would call
 * them, a supervisor user for the approval, polling an instance, reading the plant.
 */
import { waitFor } from '@takt/test-support';
import type { Suite } from './suite.js';

/** A direct method that answered outside 2xx. */
export class MethodCallError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(`${code}: ${message} (status ${status})`);
    this.name = 'MethodCallError';
  }
}

/** Calls a module's direct method through the emulator; resolves with the payload of a 2xx answer. */
export async function callMethod<T = unknown>(
  suite: Suite,
  moduleId: string,
  methodName: string,
  payload: unknown,
  responseTimeoutInSeconds = 30,
): Promise<T> {
  const result = await suite.control.invokeMethod(moduleId, { methodName, payload, responseTimeoutInSeconds });
  if (result.status >= 200 && result.status < 300) return result.payload as T;
  const body = (result.payload ?? {}) as { code?: string; message?: string };
  throw new MethodCallError(body.code ?? 'METHOD_FAILED', body.message ?? 'no message', result.status);
}

/** Creates a user through the orchestrator's console API, signed in as the suite's admin. */
export async function createUser(suite: Suite, name: string, password: string, roles: string[]): Promise<void> {
  const base = suite.consoleUrl();
  if (base === undefined) throw new Error('the orchestrator is not ready (no console URL yet)');
  const login = await fetch(`${base}/api/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(suite.admin),
  });
  const { token } = (await login.json()) as { token?: string };
  if (token === undefined) throw new Error(`admin login failed (${login.status})`);
  const created = await fetch(`${base}/api/users`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify({ name, password, roles }),
  });
  if (created.status >= 300) throw new Error(`creating user ${name} failed: ${created.status} ${await created.text()}`);
}

export interface InstanceView {
  instanceId: string;
  status: string;
  currentSteps?: { stepId: string }[];
  openTasks?: unknown[];
  output?: Record<string, unknown>;
  error?: { code: string; message: string; stepId?: string };
  vars?: Record<string, unknown>;
}

/** Starts the batch with a recipe and parameters (as `takt start-batch` does). */
export async function startBatch(
  suite: Suite,
  batchId: string,
  options: { recipe?: string; parameters?: Record<string, unknown> } = {},
): Promise<string> {
  const answer = await callMethod<{ instanceId: string }>(suite, 'orchestrator', 'startWorkflow', {
    workflowId: 'batch',
    parameters: { batchId, ...options.parameters },
    ...(options.recipe === undefined ? {} : { recipe: options.recipe }),
    idempotencyKey: `order:${batchId}`,
    correlationId: batchId,
  });
  return answer.instanceId;
}

export function getInstance(suite: Suite, instanceId: string): Promise<InstanceView> {
  return callMethod<InstanceView>(suite, 'orchestrator', 'getInstance', { instanceId });
}

/** Polls the instance until `done` holds (default: a terminal status). */
export function waitForInstance(
  suite: Suite,
  instanceId: string,
  done: (view: InstanceView) => boolean = (v) =>
    ['succeeded', 'failed', 'aborted', 'stopped', 'cancelled'].includes(v.status),
  timeoutMs = 120_000,
): Promise<InstanceView> {
  return waitFor(
    async () => {
      const view = await getInstance(suite, instanceId);
      return done(view) ? view : undefined;
    },
    { timeoutMs, maxIntervalMs: 500, description: `instance ${instanceId}` },
  );
}

/** Unit states of the plant (diagnostics `GET /state`). */
export async function plantStates(suite: Suite): Promise<Record<string, string>> {
  const state = (await (await fetch(`${suite.diagUrl}/state`)).json()) as {
    units: Record<string, { state: string }>;
  };
  return Object.fromEntries(Object.entries(state.units).map(([id, unit]) => [id, unit.state]));
}
