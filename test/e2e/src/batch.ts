/**
 * Helpers to drive the sample batch on a running {@link Suite}: direct methods as IoT Hub would call
 * them, a supervisor user for the approval, polling an instance, reading the plant.
 */
import { join } from 'node:path';
import { spawnTs, waitFor } from '@takt/test-support';
import { type Suite, repoRoot } from './suite.js';

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

/** Polls the instance until `done` holds (default: a terminal status); a timeout names the last view. */
export async function waitForInstance(
  suite: Suite,
  instanceId: string,
  done: (view: InstanceView) => boolean = (v) =>
    ['succeeded', 'failed', 'aborted', 'stopped', 'cancelled'].includes(v.status),
  timeoutMs = 120_000,
): Promise<InstanceView> {
  let last: InstanceView | undefined;
  try {
    return await waitFor(
      async () => {
        const view = await getInstance(suite, instanceId);
        last = view;
        return done(view) ? view : undefined;
      },
      { timeoutMs, maxIntervalMs: 250, description: `instance ${instanceId}` },
    );
  } catch (error) {
    const view =
      last === undefined
        ? 'never read'
        : JSON.stringify({
            status: last.status,
            currentSteps: last.currentSteps,
            openTasks: last.openTasks,
            error: last.error,
          });
    throw new Error(`${error instanceof Error ? error.message : String(error)}; last view ${view}`, { cause: error });
  }
}

/** Unit states of the plant (diagnostics `GET /state`). */
export async function plantStates(suite: Suite): Promise<Record<string, string>> {
  const state = (await (await fetch(`${suite.diagUrl}/state`)).json()) as {
    units: Record<string, { state: string }>;
  };
  return Object.fromEntries(Object.entries(state.units).map(([id, unit]) => [id, unit.state]));
}

/** One stored audit record as `query` answers it (the chained envelope around the record). */
export interface AuditEntry {
  seq: number;
  record: {
    sourceModule: string;
    sourceMessageId: string;
    action: string;
    actor: { type: string; id: string };
    target?: { type: string; id: string };
    after?: unknown;
    reason?: string;
    signature?: { signer: string; meaning: string; time: string; method: string };
    correlation?: { instanceId?: string; batchId?: string; stepId?: string };
    details?: Record<string, unknown>;
  };
}

/** Every audit record matching the filter (pages through `query`, bounded). */
export async function auditRecords(
  suite: Suite,
  filter: { instanceId?: string; batchId?: string; action?: string; actor?: string } = {},
): Promise<AuditEntry[]> {
  const all: AuditEntry[] = [];
  let afterSeq: number | undefined;
  for (let page = 0; page < 100; page++) {
    const answer = await callMethod<{ records: AuditEntry[]; nextAfterSeq?: number | null }>(suite, 'audit', 'query', {
      ...filter,
      limit: 1000,
      ...(afterSeq === undefined ? {} : { afterSeq }),
    });
    all.push(...answer.records);
    if (answer.records.length === 0 || answer.nextAfterSeq === undefined || answer.nextAfterSeq === null) break;
    afterSeq = answer.nextAfterSeq;
  }
  return all;
}

/** `verifyChain` over the whole audit chain. */
export function verifyAuditChain(suite: Suite): Promise<{ status: string; checked: number; head: number }> {
  return callMethod(suite, 'audit', 'verifyChain', {});
}

/** The plant's full diagnostics snapshot (`GET /state`): states, values (counters), alarms, faults. */
export interface PlantSnapshot {
  emergencyStop: boolean;
  units: Record<string, { state: string; values: Record<string, unknown> }>;
  faults: unknown[];
}

export async function plantSnapshot(suite: Suite): Promise<PlantSnapshot> {
  return (await (await fetch(`${suite.diagUrl}/state`)).json()) as PlantSnapshot;
}

/** A numeric tag value of the plant (`Filler.Count`, `Quality.Measured` …). */
export function plantValue(snapshot: PlantSnapshot, tag: string): number {
  const [unit, name] = tag.split('.') as [string, string];
  const value = snapshot.units[unit]?.values[name];
  if (typeof value !== 'number') throw new Error(`plant tag ${tag} is not a number: ${JSON.stringify(value)}`);
  return value;
}

/**
 * The orchestrator's `device.write` records of one instance, counted per `<node>=<value>` (the node's
 * path after `s=`, e.g. `TankA.DoseSetpoint=50`). Their ids derive from the step's idempotency key, so
 * a count above 1 means a step was executed again under a new key.
 */
export function deviceWrites(records: readonly AuditEntry[], instanceId: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const { record } of records) {
    if (record.sourceModule !== 'orchestrator' || record.action !== 'device.write') continue;
    if (record.correlation?.instanceId !== instanceId) continue;
    const node = (record.target?.id ?? '').split(';s=').pop() ?? '';
    const key = `${node}=${JSON.stringify(record.after)}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/**
 * Runs the plant's fault CLI (`simulators/opcua-plant/src/cli.ts`) against the suite's plant, e.g.
 * `plantCli(suite, 'inject', 'restart', '-', '2000')` or `plantCli(suite, 'estop', 'on')`; resolves with
 * its JSON answer, rejects when it exits non-zero.
 */
export async function plantCli(suite: Suite, ...command: string[]): Promise<Record<string, unknown>> {
  const cli = spawnTs(
    'simulators/opcua-plant/src/cli.ts',
    ['--endpoint', suite.plantUrl, '--pki-dir', join(suite.dataDir, 'plant-cli-pki'), ...command],
    { cwd: repoRoot, name: 'plant-cli', stopAfterTest: false },
  );
  const code = await cli.waitForExit(60_000);
  const line = cli
    .output()
    .split('\n')
    .findLast((l) => l.startsWith('{'));
  if (code !== 0 || line === undefined)
    throw new Error(`plant CLI ${command.join(' ')} exited ${code}: ${cli.output()}`);
  return JSON.parse(line) as Record<string, unknown>;
}

/** The plant's `GET /healthz` (`{ok, opcua, sessions, restarts}`). */
export async function plantHealth(suite: Suite): Promise<{ ok: boolean; opcua: unknown; restarts?: number }> {
  return (await (await fetch(`${suite.diagUrl}/healthz`)).json()) as { ok: boolean; opcua: unknown; restarts?: number };
}

/** True once the instance is at (one of) the steps. */
export function atStep(...steps: string[]): (view: InstanceView) => boolean {
  return (view) => (view.currentSteps ?? []).some((s) => steps.includes(s.stepId));
}

/** Approves the instance's open approval as `user` (password re-entered: the e-signature). */
export async function approveBatch(suite: Suite, instanceId: string, user: string, password: string): Promise<void> {
  await callMethod(suite, 'orchestrator', 'approve', {
    instanceId,
    user,
    password,
    reason: 'sample in spec',
    meaning: 'Batch released for filling',
  });
}

/**
 * Injects a plant fault over OPC UA through the connector's `call` method (`Simulation.InjectFault`) —
 * quicker than the CLI (no process start), so it lands at a chosen moment. Resolves with the fault id.
 */
export async function injectPlantFault(suite: Suite, kind: string, target = '', value = 0): Promise<string> {
  const answer = await callMethod<{ outputArguments?: unknown[]; outputs?: unknown[] }>(
    suite,
    'opcua-connector',
    'call',
    {
      endpointUrl: suite.plantUrl,
      objectId: 'nsu=urn:takt:opcua-plant;s=Simulation',
      methodId: 'nsu=urn:takt:opcua-plant;s=Simulation.InjectFault',
      inputArguments: [kind, target, value],
    },
  );
  return JSON.stringify(answer);
}
