/**
 * `npm run chaos`: N sample batches on the whole suite (separate processes, as `npm start` runs it) while
 * random faults hit it — kill -9 of a random module (restarted after a random pause), OPC UA plant
 * restarts and dropped sessions, the cloud link offline, edgeHub dropping every connection, the Azure
 * emulators frozen (SIGSTOP/SIGCONT). Bounded in count (`--batches`, default 5) and time (`--max-minutes`,
 * default 5). At the end, with every fault healed, it checks that each batch is complete or in a
 * declared safe state (aborted/failed with its safe-state/compensation audit, or held in doubt with an
 * `ORCH_IN_DOUBT` alert), that the audit chain verifies, and that nothing acknowledged is missing
 * (every acknowledged start and approval audited; every audit record upstream; every instance's status
 * events on the Service Bus topic; every run twin at its final state). A batch still running after
 * `--batch-seconds` is recorded where it stands (`timed-out`, a failed check) and then aborted, as an
 * operator would, so it does not hold the reactor for the batches after it. A batch held on a device
 * command in doubt (an `askOperator` task after a kill) is answered as an operator at the HMI would:
 * the unit's PackML state (or the node's value) in the plant says whether the command took effect
 * (`succeeded`) or not (`retry`); each answer is listed, and each must have raised `ORCH_IN_DOUBT`.
 * Between batches it also keeps the material up (refills tanks, drains the reactor). Faults come every
 * `--fault-gap` seconds (a random pause in MIN-MAX). Prints a JSON summary on stdout (progress on
 * stderr); exit code 0 when every check holds, 1 when one fails, 2 when the run itself broke, 130 on
 * Ctrl-C (the suite is stopped either way).
 *
 *     npm run chaos -- --batches 5 --max-minutes 10 --seed 7 --fault-gap 0.5-3
 */
import { parseArgs } from 'node:util';
import {
  type InstanceView,
  type PlantSnapshot,
  type Suite,
  type TopicMessage,
  auditRecords,
  callMethod,
  createUser,
  digitalTwin,
  getInstance,
  openTopicReader,
  plantSnapshot,
  startBatch,
  startSuite,
  verifyAuditChain,
  waitForInstance,
} from '@takt/e2e';
import { waitFor } from '@takt/test-support';

const { values: args } = parseArgs({
  options: {
    batches: { type: 'string', default: '5' },
    'max-minutes': { type: 'string', default: '5' },
    seed: { type: 'string', default: String(Date.now() % 100_000) },
    host: { type: 'string', default: '127.49.4.1' },
    speed: { type: 'string', default: '50' },
    'batch-seconds': { type: 'string', default: '150' },
    'fault-gap': { type: 'string', default: '0.5-3' },
    echo: { type: 'boolean', default: false },
  },
  strict: true,
});
const batches = Math.min(50, Math.max(1, Number(args.batches)));
const maxMs = Math.min(60, Math.max(1, Number(args['max-minutes']))) * 60_000;
const seed = Number(args.seed);
const batchMs = Math.min(1800, Math.max(30, Number(args['batch-seconds']))) * 1000;
const [gapMinMs, gapMaxMs] = ((): [number, number] => {
  const match = /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$/.exec(args['fault-gap']);
  const min = Math.min(600, Number(match?.[1] ?? 0.5)) * 1000;
  const max = Math.min(600, Number(match?.[2] ?? 3)) * 1000;
  if (match === null || !(max >= min) || min < 100) {
    process.stderr.write(
      `--fault-gap: expected MIN-MAX seconds, 0.1 <= MIN <= MAX <= 600 (got "${args['fault-gap']}")\n`,
    );
    process.exit(2);
  }
  return [min, max];
})();
const started = Date.now();
const deadline = started + maxMs;
const log = (message: string): void =>
  void process.stderr.write(`chaos ${((Date.now() - started) / 1000).toFixed(1)}s ${message}\n`);

/** mulberry32: a seeded PRNG, so a run can be repeated with `--seed`. */
let prngState = seed >>> 0;
function random(): number {
  prngState = (prngState + 0x6d2b79f5) >>> 0;
  let t = prngState;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
}
const between = (min: number, max: number): number => Math.round(min + random() * (max - min));
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
const message = (error: unknown): string => (error instanceof Error ? error.message : String(error)).slice(0, 200);

const MODULES = ['orchestrator', 'opcua-connector', 'audit', 'cloud-bridge'] as const;
const TERMINAL = new Set(['succeeded', 'failed', 'aborted', 'stopped', 'cancelled']);

interface BatchResult {
  batchId: string;
  instanceId?: string;
  status: string;
  outcome: 'complete' | 'safe-state' | 'held-in-doubt' | 'timed-out' | 'not-declared' | 'not-started';
  /** In-doubt device commands answered as an operator: step, answer and why. */
  inDoubt: { stepId: string; taskId: string; outcome: string; why: string }[];
  /** Still running after --batch-seconds: where it stood before the run aborted it. */
  timedOut?: { steps: string[]; openTasks: number; lastHistory: unknown[] };
  error?: string;
  approved: boolean;
  /** Where a batch that did not end stood: its current steps and open tasks. */
  at?: { steps: string[]; openTasks: number; lastHistory: unknown[] };
  faultsDuring: string[];
  seconds: number;
}

const faults: { at: number; kind: string; target?: string; ms?: number; ok: boolean; error?: string }[] = [];
let currentFaults: string[] = [];
let stopChaos = false;

/** Retries `fn` until it resolves or `ms` pass (modules may be down). */
async function patiently<T>(what: string, ms: number, fn: () => Promise<T>): Promise<T> {
  const until = Date.now() + ms;
  let last: unknown;
  for (let attempt = 0; attempt < 1000 && Date.now() < until; attempt++) {
    try {
      return await fn();
    } catch (error) {
      last = error;
      await pause(Math.min(2000, 250 * (attempt + 1)));
    }
  }
  throw new Error(`${what}: ${message(last)}`);
}

function isUp(suite: Suite, id: string): boolean {
  const proc = suite.modules.get(id)?.handle.process;
  return proc !== undefined && proc.exitCode === null && proc.signalCode === null;
}

async function plantCall(
  suite: Suite,
  objectId: string,
  methodId: string,
  inputArguments: unknown[] = [],
): Promise<unknown> {
  return callMethod(
    suite,
    'opcua-connector',
    'call',
    {
      endpointUrl: suite.plantUrl,
      objectId: `nsu=urn:takt:opcua-plant;s=${objectId}`,
      methodId: `nsu=urn:takt:opcua-plant;s=${methodId}`,
      inputArguments,
    },
    10,
  );
}

async function plantWrite(suite: Suite, path: string, value: unknown): Promise<unknown> {
  return callMethod(
    suite,
    'opcua-connector',
    'write',
    { endpointUrl: suite.plantUrl, nodeId: `nsu=urn:takt:opcua-plant;s=${path}`, value },
    10,
  );
}

/** One random fault, healed before it returns. */
async function injectFault(suite: Suite): Promise<void> {
  const kind = pick([
    'kill',
    'kill',
    'kill',
    'plant-restart',
    'plant-drop-sessions',
    'offline',
    'drop-connections',
    'azure-freeze',
  ]);
  const at = Date.now() - started;
  const record = (entry: { target?: string; ms?: number; ok: boolean; error?: string }): void => {
    faults.push({ at, kind, ...entry });
    currentFaults.push(entry.target === undefined ? kind : `${kind}:${entry.target}`);
  };
  try {
    switch (kind) {
      case 'kill': {
        const target = pick(MODULES);
        const ms = between(200, 3000);
        log(`kill -9 ${target}, back in ${ms} ms`);
        await suite.killModule(target);
        await pause(ms);
        // the heal between batches may have brought it back already
        if (!isUp(suite, target)) await suite.restart(target, 90_000);
        record({ target, ms, ok: true });
        break;
      }
      case 'plant-restart': {
        const ms = between(500, 4000);
        log(`plant restart, ${ms} ms down`);
        await plantCall(suite, 'Simulation', 'Simulation.InjectFault', ['restart', '', ms]);
        await pause(ms);
        record({ ms, ok: true });
        break;
      }
      case 'plant-drop-sessions': {
        log('plant drops every session');
        await plantCall(suite, 'Simulation', 'Simulation.InjectFault', ['dropSessions', '', 0]);
        record({ ok: true });
        break;
      }
      case 'offline': {
        const ms = between(1000, 8000);
        log(`cloud link offline for ${ms} ms`);
        await suite.control.setOnline(false);
        await pause(ms);
        await suite.control.setOnline(true);
        record({ ms, ok: true });
        break;
      }
      case 'drop-connections': {
        log('edgeHub drops every connection');
        await suite.control.dropConnections();
        record({ ok: true });
        break;
      }
      case 'azure-freeze': {
        const ms = between(1000, 6000);
        log(`Azure emulators frozen for ${ms} ms`);
        suite.azure.handle.signal('SIGSTOP');
        await pause(ms);
        suite.azure.handle.signal('SIGCONT');
        record({ ms, ok: true });
        break;
      }
    }
  } catch (error) {
    log(`fault ${kind} failed: ${message(error)}`);
    record({ ok: false, error: message(error) });
  }
}

async function chaosLoop(suite: Suite): Promise<void> {
  for (let round = 0; round < 10_000 && !stopChaos && Date.now() < deadline - 60_000; round++) {
    await pause(between(gapMinMs, gapMaxMs));
    if (stopChaos) break;
    await injectFault(suite);
  }
}

/** Heals everything: every module running, the link online, the Azure emulators running. */
async function healAll(suite: Suite): Promise<void> {
  suite.azure.handle.signal('SIGCONT');
  await suite.control.setOnline(true).catch(() => undefined);
  for (const id of MODULES) if (!isUp(suite, id)) await suite.restart(id, 90_000);
}

/**
 * As an operator between batches: the units a batch uses (tanks, reactor, filler) are brought back to
 * Idle — Aborted → Clear, Stopped/Complete → Reset, anything still running → Stop — and it waits for
 * Idle (the conveyor and quality station keep running, as after a normal batch).
 */
async function resetPlant(suite: Suite): Promise<void> {
  const units = ['TankA', 'TankB', 'Reactor', 'Filler'];
  const commandFor: Record<string, string> = {
    Aborted: 'Clear',
    Stopped: 'Reset',
    Complete: 'Reset',
    Execute: 'Stop',
    Held: 'Stop',
    Suspended: 'Stop',
  };
  let states: Record<string, string | undefined> = {};
  for (let round = 0; round < 80; round++) {
    const snapshot = await plantSnapshot(suite);
    states = Object.fromEntries(units.map((u) => [u, snapshot.units[u]?.state]));
    const pending = units.filter((u) => snapshot.units[u]?.state !== 'Idle');
    if (pending.length === 0) return;
    for (const unit of pending) {
      const command = commandFor[snapshot.units[unit]?.state ?? ''];
      if (command !== undefined) await plantCall(suite, unit, `${unit}.${command}`).catch(() => undefined);
    }
    await pause(250);
  }
  log(`plant not back to Idle: ${JSON.stringify(states)}`);
}

/** Whether `done` holds for the plant within `ms`. */
function plantUntil(suite: Suite, ms: number, done: (s: PlantSnapshot) => boolean): Promise<boolean> {
  return waitFor(async () => done(await plantSnapshot(suite)), { timeoutMs: ms }).then(
    () => true,
    () => false,
  );
}

/**
 * Material upkeep, as the operator would between batches: a dosing tank below 300 L is refilled to 800 L
 * (its inlet valve opened, then closed), and a reactor above 60 % is drained to ~30 % through the filler —
 * so a long run does not empty the tanks (a dose would suspend) or fill the reactor (a batch would be
 * refused with REACTOR_LEVEL_TOO_HIGH).
 */
async function replenish(suite: Suite): Promise<void> {
  const snapshot = await plantSnapshot(suite);
  for (const tank of ['TankA', 'TankB']) {
    if (Number(snapshot.units[tank]?.values['Volume'] ?? 0) >= 300) continue;
    log(`operator: refilling ${tank}`);
    // the connector may be down for a moment (a fault still healing): as patient as an operator
    await patiently('open the inlet', 60_000, () => plantWrite(suite, `${tank}.InletValve`, true));
    const full = await plantUntil(suite, 60_000, (s) => Number(s.units[tank]?.values['Volume'] ?? 0) >= 800);
    await patiently('close the inlet', 60_000, () => plantWrite(suite, `${tank}.InletValve`, false));
    if (!full) log(`operator: ${tank} did not reach 800 L`);
  }
  const level = Number(snapshot.units['Reactor']?.values['Level'] ?? 0);
  if (level > 60) {
    const units = Math.round((level - 30) * 20); // 20 L per % (2,000 L reactor), 1 L per unit
    log(`operator: draining the reactor (${level.toFixed(1)} %) through the filler, ${units} units`);
    await patiently('set the drain size', 60_000, () => plantWrite(suite, 'Filler.BatchSize', units));
    await patiently('start the drain', 60_000, () => plantCall(suite, 'Filler', 'Filler.Start'));
    const drained = await plantUntil(suite, 120_000, (s) => s.units['Filler']?.state === 'Complete');
    if (!drained) log('operator: the filler did not complete the drain');
    await resetPlant(suite);
  }
}

async function runBatch(suite: Suite, index: number): Promise<BatchResult> {
  const batchId = `CHAOS-${seed}-${index}`;
  const t0 = Date.now();
  currentFaults = [];
  const result: BatchResult = {
    batchId,
    status: 'not started',
    outcome: 'not-started',
    approved: false,
    inDoubt: [],
    faultsDuring: [],
    seconds: 0,
  };
  try {
    result.instanceId = await patiently(`start ${batchId}`, 60_000, () =>
      startBatch(suite, batchId, { recipe: 'small' }),
    );
    log(`${batchId} started as ${result.instanceId}`);
    const batchDeadline = Math.min(deadline - 20_000, Date.now() + batchMs);
    let view: InstanceView | undefined;
    for (let poll = 0; poll < 10_000 && Date.now() < batchDeadline; poll++) {
      view = await getInstance(suite, result.instanceId).catch(() => view);
      if (view !== undefined && TERMINAL.has(view.status)) break;
      if (view?.currentSteps?.some((s) => s.stepId === 'approve') === true && !result.approved) {
        try {
          await callMethod(suite, 'orchestrator', 'approve', {
            instanceId: result.instanceId,
            user: 'sue',
            password: 'sue-password',
            reason: 'chaos run: sample in spec',
            meaning: 'Batch released for filling',
          });
          result.approved = true;
          log(`${batchId} approved`);
        } catch (error) {
          log(`${batchId} approval not acknowledged yet: ${message(error)}`);
        }
      }
      if (view !== undefined && (view.openTasks ?? []).some((t) => String(t).endsWith(':inDoubt'))) {
        await answerInDoubt(suite, result).catch((error: unknown) =>
          log(`${batchId} in-doubt task not answered yet: ${message(error)}`),
        );
      }
      await pause(300);
    }
    result.status = view?.status ?? 'unknown';
    if (view?.error !== undefined) result.error = `${view.error.code}: ${view.error.message}`;
    if (view !== undefined && !TERMINAL.has(view.status)) result.status = await abortStuck(suite, result);
  } catch (error) {
    result.error = message(error);
  }
  result.faultsDuring = [...currentFaults];
  result.seconds = Math.round((Date.now() - t0) / 100) / 10;
  log(`${batchId} ended ${result.status}${result.error === undefined ? '' : ` (${result.error})`}`);
  return result;
}

interface OpenTask {
  taskId: string;
  stepId: string;
  kind: string;
  details?: { action?: string; args?: Record<string, unknown> };
}

const short = (nodeId: unknown): string => String(nodeId).replace('nsu=urn:takt:opcua-plant;s=', '');

/** Whether a PackML command has taken effect, from the unit's state now. */
const TOOK_EFFECT: Record<string, (state: string) => boolean> = {
  Start: (state) => state !== 'Idle',
  Reset: (state) => state === 'Idle' || state === 'Resetting',
  Stop: (state) => state === 'Stopped' || state === 'Stopping',
  Clear: (state) => state !== 'Aborted',
};

/**
 * Answers the instance's open in-doubt tasks as an operator at the HMI: looks at the unit the command
 * went to, answers `succeeded` when it took effect and `retry` when not (`failed` when it cannot tell).
 */
async function answerInDoubt(suite: Suite, result: BatchResult): Promise<void> {
  const instanceId = result.instanceId as string;
  const { items } = await callMethod<{ items: OpenTask[] }>(suite, 'orchestrator', 'listTasks', { instanceId });
  const snapshot = await plantSnapshot(suite);
  for (const task of items.filter((t) => t.kind === 'inDoubt')) {
    const { action, args = {} } = task.details ?? {};
    let outcome = 'failed';
    let why = `cannot tell what ${String(action)} did`;
    if (action === 'opcua.call') {
      const [unit = '', verb = ''] = short(args['methodId']).split('.');
      const state = snapshot.units[unit]?.state ?? 'unknown';
      const tookEffect = TOOK_EFFECT[verb];
      if (tookEffect !== undefined) {
        outcome = tookEffect(state) ? 'succeeded' : 'retry';
        why = `${unit} is ${state} after ${verb}`;
      }
    } else if (action === 'opcua.write') {
      const [unit = '', name = ''] = short(args['nodeId']).split('.');
      const value = snapshot.units[unit]?.values[name];
      outcome = JSON.stringify(value) === JSON.stringify(args['value']) ? 'succeeded' : 'retry';
      why = `${unit}.${name} reads ${JSON.stringify(value)}, written ${JSON.stringify(args['value'])}`;
    }
    await callMethod(suite, 'orchestrator', 'resolveInDoubt', {
      instanceId,
      taskId: task.taskId,
      outcome,
      reason: `chaos run, as an operator: ${why}`,
      actor: 'chaos-operator',
    });
    result.inDoubt.push({ stepId: task.stepId, taskId: task.taskId, outcome, why });
    log(`${result.batchId} in doubt at ${task.stepId}: answered ${outcome} (${why})`);
  }
}

/** Where an instance that has not ended stands: its current steps, open tasks and last history entries. */
async function whereItStands(
  suite: Suite,
  instanceId: string,
): Promise<{ steps: string[]; openTasks: number; lastHistory: unknown[] }> {
  const view = await getInstance(suite, instanceId);
  const full = await callMethod<{ history?: unknown[] }>(suite, 'orchestrator', 'getInstance', {
    instanceId,
    history: true,
  }).catch(() => ({ history: [] }));
  return {
    steps: (view.currentSteps ?? []).map((s) => s.stepId),
    openTasks: (view.openTasks ?? []).length,
    lastHistory: (full.history ?? []).slice(-4),
  };
}

/**
 * A batch still running after its time: records where it stands, then aborts it (safe-state
 * procedure) so the next batch can have the reactor. It stays a failed check (`timed-out`).
 */
async function abortStuck(suite: Suite, result: BatchResult): Promise<string> {
  const instanceId = result.instanceId as string;
  result.timedOut = await patiently('where it stands', 30_000, () => whereItStands(suite, instanceId)).catch(
    (error: unknown) => ({ steps: [], openTasks: -1, lastHistory: [message(error)] }),
  );
  log(
    `${result.batchId} still running after ${batchMs / 1000} s at ${JSON.stringify(result.timedOut.steps)}: aborting it`,
  );
  await patiently('abort', 60_000, () =>
    callMethod(suite, 'orchestrator', 'abort', { instanceId, actor: 'chaos-run', reason: 'did not end in time' }),
  ).catch((error: unknown) => log(`${result.batchId} abort failed: ${message(error)}`));
  const ended = await waitForInstance(suite, instanceId, undefined, 60_000).catch(() => undefined);
  return ended?.status ?? 'unknown';
}

/** The status event that ends an instance: completed, failed, or a state change to aborted/stopped/cancelled. */
const isTerminalEvent = (m: TopicMessage): boolean =>
  m.subject === 'instance.completed' ||
  m.subject === 'instance.failed' ||
  (m.subject === 'instance.state' && TERMINAL.has(String(m.body['state'])));

/** Classifies a batch after the run, from the orchestrator, the audit and the upstream alerts. */
async function classify(
  suite: Suite,
  result: BatchResult,
  alerts: { code?: string; instanceId?: string }[],
): Promise<void> {
  if (result.instanceId === undefined) return;
  const view = await patiently('getInstance', 60_000, () => getInstance(suite, result.instanceId as string));
  result.status = view.status;
  if (view.error !== undefined) result.error = `${view.error.code}: ${view.error.message}`;
  if (!TERMINAL.has(view.status)) result.at = await whereItStands(suite, result.instanceId);
  const actions = new Set((await auditRecords(suite, { instanceId: result.instanceId })).map((r) => r.record.action));
  if (result.timedOut !== undefined) result.outcome = 'timed-out';
  else if (view.status === 'succeeded' && actions.has('batch.completed')) result.outcome = 'complete';
  else if (view.status === 'aborted' && actions.has('workflow.batch-safe-state') && actions.has('batch.aborted')) {
    result.outcome = 'safe-state';
  } else if (['failed', 'stopped', 'cancelled'].includes(view.status) && actions.has(`batch.${view.status}`)) {
    result.outcome = 'safe-state';
  } else if (
    !TERMINAL.has(view.status) &&
    (view.openTasks ?? []).length > 0 &&
    alerts.some((a) => a.instanceId === result.instanceId && a.code === 'ORCH_IN_DOUBT')
  ) {
    result.outcome = 'held-in-doubt';
  } else result.outcome = 'not-declared';
}

async function main(): Promise<number> {
  log(`seed ${seed}, ${batches} batches, at most ${maxMs / 60_000} min, host ${args.host}`);
  const suite = await startSuite({ host: args.host, plantSpeed: Number(args.speed), echo: args.echo });
  // Ctrl-C: thaw the Azure emulators (they may be frozen) and stop every child before leaving.
  const interrupt = (signal: NodeJS.Signals): void => {
    log(`${signal}: stopping the suite`);
    stopChaos = true;
    suite.azure.handle.signal('SIGCONT');
    void suite.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  const topic = openTopicReader(suite, 'all');
  try {
    const readiness = await suite.waitReady(120_000);
    if (!Object.values(readiness).every((r) => r === 'ready'))
      throw new Error(`not ready: ${JSON.stringify(readiness)}`);
    await createUser(suite, 'sue', 'sue-password', ['supervisor', 'operator']);
    log('suite ready');

    const results: BatchResult[] = [];
    const chaos = chaosLoop(suite);
    for (let i = 1; i <= batches && Date.now() < deadline - 60_000; i++) {
      results.push(await runBatch(suite, i));
      await healAll(suite).catch((error: unknown) => log(`heal failed: ${message(error)}`));
      await resetPlant(suite).catch((error: unknown) => log(`plant reset failed: ${message(error)}`));
      await replenish(suite).catch((error: unknown) => log(`material upkeep failed: ${message(error)}`));
    }
    stopChaos = true;
    await chaos;
    await healAll(suite);
    log('faults stopped; settling and checking');

    // upstream: alerts and every audit record of the chain (up to the head)
    const chain = await patiently('verifyChain', 60_000, () => verifyAuditChain(suite));
    const upstreamSeqs = async (): Promise<Set<number>> =>
      new Set(
        (await suite.control.upstream(0, 100_000))
          .filter((m) => m.moduleId === 'audit')
          .map((m) => (JSON.parse(m.body) as { seq: number }).seq),
      );
    let missingUpstream: number[] = [];
    for (let round = 0; round < 60; round++) {
      const seqs = await upstreamSeqs();
      missingUpstream = [];
      for (let seq = 1; seq <= chain.head; seq++) if (!seqs.has(seq)) missingUpstream.push(seq);
      if (missingUpstream.length === 0) break;
      await pause(1000);
    }
    const alerts = (await suite.control.upstream(0, 100_000))
      .filter((m) => m.moduleId === 'orchestrator')
      .map((m) => JSON.parse(m.body) as { code?: string; instanceId?: string; taskId?: string });
    for (const result of results) await classify(suite, result, alerts);

    // every in-doubt task answered was declared: an ORCH_IN_DOUBT alert for its task reached upstream
    const inDoubtUndeclared: string[] = [];
    for (const r of results) {
      for (const answered of r.inDoubt) {
        const alerted = alerts.some((a) => a.code === 'ORCH_IN_DOUBT' && a.taskId === answered.taskId);
        if (!alerted) inDoubtUndeclared.push(`${r.batchId}: ${answered.taskId}`);
      }
    }

    // acknowledged starts and approvals are audited
    const missingAcknowledged: string[] = [];
    for (const r of results) {
      if (r.instanceId === undefined) continue;
      const actions = (await auditRecords(suite, { instanceId: r.instanceId })).map((a) => a.record.action);
      if (!actions.includes('instance.started')) missingAcknowledged.push(`${r.batchId}: instance.started`);
      if (r.approved && !actions.includes('approval.approve'))
        missingAcknowledged.push(`${r.batchId}: approval.approve`);
    }

    // Service Bus: each instance's status events, seq 1…n without gaps, ending in its terminal event
    const missingOnTopic: string[] = [];
    const twinsWrong: string[] = [];
    for (const r of results) {
      if (r.instanceId === undefined) continue;
      const id = r.instanceId;
      const terminal = TERMINAL.has(r.status);
      let events: TopicMessage[] = [];
      for (let round = 0; round < 30; round++) {
        events = (await topic.read()).filter((m) => m.sessionId === id);
        const ended = events.some(isTerminalEvent);
        if (!terminal || ended) break;
        await pause(1000);
      }
      const seqs = new Set(events.map((m) => m.body['seq'] as number));
      const max = Math.max(0, ...seqs);
      const gaps: number[] = [];
      for (let s = 1; s <= max; s++) if (!seqs.has(s)) gaps.push(s);
      if (events.length === 0) missingOnTopic.push(`${r.batchId}: no events`);
      else if (gaps.length > 0) missingOnTopic.push(`${r.batchId}: seq gaps ${gaps.slice(0, 10).join(',')}`);
      if (terminal && !events.some(isTerminalEvent)) {
        missingOnTopic.push(`${r.batchId}: no terminal event`);
      }
      const twin = terminal ? await digitalTwin(suite, `run-${id}`).catch(() => undefined) : undefined;
      if (terminal && twin?.['state'] !== r.status)
        twinsWrong.push(`${r.batchId}: twin ${String(twin?.['state'])}, instance ${r.status}`);
    }

    // events cloud-bridge refused (its reported health): a refused event is a gap on the topic
    const bridgeHealth = ((await suite.control.twin('cloud-bridge')).reported['health'] ?? {}) as {
      statusRefused?: number;
    };
    const outcomes: Record<string, number> = {};
    for (const r of results) outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
    const faultCounts: Record<string, number> = {};
    for (const f of faults) {
      const key = f.target === undefined ? f.kind : `${f.kind}:${f.target}`;
      faultCounts[key] = (faultCounts[key] ?? 0) + 1;
    }
    const allDeclared =
      results.length > 0 && results.every((r) => ['complete', 'safe-state', 'held-in-doubt'].includes(r.outcome));
    const ok =
      allDeclared &&
      results.length === batches &&
      chain.status === 'intact' &&
      missingUpstream.length === 0 &&
      missingAcknowledged.length === 0 &&
      missingOnTopic.length === 0 &&
      twinsWrong.length === 0 &&
      inDoubtUndeclared.length === 0;
    const summary = {
      ok,
      seed,
      batches: { requested: batches, run: results.length, outcomes },
      faults: { injected: faults.length, failed: faults.filter((f) => !f.ok).length, byKind: faultCounts },
      audit: { chain: chain.status, records: chain.checked, head: chain.head, missingUpstream: missingUpstream.length },
      inDoubt: { answered: results.reduce((n, r) => n + r.inDoubt.length, 0), withoutAlert: inDoubtUndeclared },
      nothingAcknowledgedMissing: missingAcknowledged.length === 0,
      missingAcknowledged,
      serviceBus: { problems: missingOnTopic, cloudBridgeStatusRefused: bridgeHealth.statusRefused ?? null },
      digitalTwins: { problems: twinsWrong },
      seconds: Math.round((Date.now() - started) / 1000),
      results,
      faultLog: faults,
    };
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    return ok ? 0 : 1;
  } finally {
    stopChaos = true;
    suite.azure.handle.signal('SIGCONT');
    await topic.close().catch(() => undefined);
    await suite.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(
      `chaos run failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(2);
  },
);
