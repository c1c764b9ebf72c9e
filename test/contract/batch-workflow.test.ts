/**
 * The sample batch workflow (deployment/workflows/batch.json): it validates, fits the twin, names only
 * tags the orchestrator settings map, and simulates against a scripted plant — the happy path, the
 * corrective re-dose, the reject branch, a rejected approval, the heating escalation, a reactor that
 * finished unseen or stopped during heat and hold, and the level interlock (safe-state procedure).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type SimResponse, type SimulationOptions, type SimulationResult, simulate } from '@takt/engine';
import { type JsonObject, type WorkflowDefinition, validateWorkflow } from '@takt/workflow';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url);
const readJson = (path: string): unknown => JSON.parse(readFileSync(fileURLToPath(new URL(path, root)), 'utf8'));
const batch = readJson('deployment/workflows/batch.json') as WorkflowDefinition;
const settings = readJson('deployment/workflows/orchestrator-settings.json') as {
  defaultEndpointUrl: string;
  tags: { name: string; nodeId: string }[];
};
const recipes = readJson('deployment/workflows/recipes.json') as Record<string, { parameters: JsonObject }>;

const NS = 'nsu=urn:takt:opcua-plant;s=';
const short = (id: unknown): string => String(id).replace(NS, '');

const idle = {
  'TankA.State': 'Idle',
  'TankB.State': 'Idle',
  'Reactor.State': 'Idle',
  'Filler.State': 'Idle',
  'Reactor.Level': 20,
  'Reactor.Temperature': 20,
  'Quality.Measured': 0,
};
const allIdle = { 'TankA.State': 'Idle', 'TankB.State': 'Idle', 'Reactor.State': 'Idle', 'Filler.State': 'Idle' };

const s = (seconds: number): number => seconds * 1000;
const tags = (atS: number, values: JsonObject): NonNullable<SimulationOptions['events']>[number] => ({
  atMs: s(atS),
  event: { type: 'tags', values },
});

/** Up to the first sample: doses complete, the reactor heats and holds, one unit is measured. */
const firstSample = [
  tags(60, { 'TankA.State': 'Complete' }),
  tags(120, { 'TankB.State': 'Complete' }),
  tags(300, { 'Reactor.Temperature': 80 }),
  tags(400, { 'Reactor.State': 'Complete' }),
  tags(450, { 'Quality.Measured': 1, 'Filler.State': 'Complete' }),
  tags(460, { 'Filler.State': 'Idle' }),
];

/** Reads answer in order per step (a step visited twice gets the next answer). */
function reads(answers: Record<string, unknown[]>): Record<string, (c: { stepId: string }) => SimResponse> {
  const out: Record<string, (c: { stepId: string }) => SimResponse> = {};
  for (const [step, values] of Object.entries(answers)) {
    let visit = 0;
    out[step] = () => {
      const value = values[Math.min(visit, values.length - 1)];
      visit += 1;
      return { value: { value: value as JsonObject[string] } };
    };
  }
  return out;
}

const passing = { checkLevel: [20], readMeasured: [0, 1], readPassed: [true], readViscosity: [1205] };

function run(options: SimulationOptions & { answers?: Record<string, unknown[]> }): Promise<SimulationResult> {
  const { answers, ...rest } = options;
  return simulate(batch, {
    params: { batchId: 'B-100', ...recipes['standard']?.parameters },
    tags: idle,
    ...rest,
    responses: { ...reads(answers ?? passing), ...rest.responses },
  });
}

const writes = (r: SimulationResult): string[] =>
  r.dispatched
    .filter((d) => d.action === 'opcua.write')
    .map((d) => `${short(d.args['nodeId'])}=${JSON.stringify(d.args['value'])}`);
const calls = (r: SimulationResult): string[] =>
  r.dispatched.filter((d) => d.action === 'opcua.call').map((d) => short(d.args['methodId']));
const audits = (r: SimulationResult): unknown[] =>
  r.dispatched.filter((d) => d.action === 'audit').map((d) => d.args['event']);
const alerts = (r: SimulationResult): { stepId?: string; severity: string; code: string; atMs: number }[] =>
  r.trace.flatMap((t) =>
    t.commands.flatMap((c) =>
      c.type === 'alert'
        ? [
            {
              ...(c.stepId === undefined ? {} : { stepId: c.stepId }),
              severity: c.severity,
              code: c.code,
              atMs: t.atMs,
            },
          ]
        : [],
    ),
  );

describe('deployment/workflows/batch.json', () => {
  it('validates cleanly and fits the twin with room for settings and recipes', () => {
    const result = validateWorkflow(batch);
    expect(result.problems).toEqual([]);
    expect(result.valid).toBe(true);
    expect(batch.id).toBe('batch');
    expect(result.twin.bytes).toBeLessThan(24 * 1024);
    expect(result.twin.depthInTwin).toBeLessThanOrEqual(10);
    const desired = { workflows: { batch }, settings, recipes };
    // the connector's endpoint for the plant, as the suite and the manifest carry it
    const endpoints = readJson('deployment/workflows/opcua-connector-endpoints.json') as Record<
      string,
      { EndpointUrl: string }
    >;
    expect(Object.values(endpoints).map((e) => e.EndpointUrl)).toEqual([settings.defaultEndpointUrl]);
    expect(Buffer.byteLength(JSON.stringify(desired))).toBeLessThan(32 * 1024);
  });

  it('names only plant nodes and tags the orchestrator settings map', () => {
    const text = JSON.stringify(batch);
    const nodes = [...text.matchAll(/nsu=urn:takt:opcua-plant;s=([A-Za-z.]+)/g)].map((m) => m[1]);
    const units = ['TankA', 'TankB', 'Reactor', 'Filler', 'Conveyor', 'Quality'];
    for (const node of nodes) expect(units, node).toContain(node?.split('.')[0]);
    const mapped = new Set(settings.tags.map((t) => t.name));
    for (const t of settings.tags) expect(t.nodeId).toBe(`${NS}${t.name}`);
    const used = new Set<string>();
    for (const step of Object.values(batch.steps)) {
      for (const tag of (step as { tags?: string[] }).tags ?? []) used.add(tag);
      for (const lock of (step as { interlocks?: { tags?: string[] }[] }).interlocks ?? [])
        for (const tag of lock.tags ?? []) used.add(tag);
    }
    for (const lock of batch.interlocks ?? []) for (const tag of lock.tags ?? []) used.add(tag);
    for (const tag of used) expect(mapped, `tag ${tag} is not in orchestrator-settings.json`).toContain(tag);
  });

  it('is the document the manifest carries (when the manifest carries one)', () => {
    const manifest = readJson('deployment/deployment.template.json') as {
      modulesContent: { orchestrator?: { 'properties.desired'?: { workflows?: Record<string, unknown> } } };
    };
    const deployed = manifest.modulesContent.orchestrator?.['properties.desired']?.workflows?.['batch'];
    expect(deployed === undefined || JSON.stringify(deployed) === JSON.stringify(batch)).toBe(true);
  });

  it('runs the happy path: dose A then B, heat and hold, sample, approval, fill, release', async () => {
    const r = await run({
      events: [
        ...firstSample,
        tags(600, { 'Filler.State': 'Complete' }),
        tags(700, { ...allIdle, 'Reactor.Temperature': 79.5 }),
      ],
      approvals: { approve: { decision: 'approve', afterMs: 60_000, user: 'sue', role: 'supervisor' } },
    });
    expect(r.error).toBeUndefined();
    expect(r.status).toBe('succeeded');
    expect(writes(r)).toEqual([
      'TankA.DoseSetpoint=300',
      'TankB.DoseSetpoint=200',
      'Reactor.TemperatureSetpoint=80',
      'Reactor.HoldTimeSetpoint=60',
      'Filler.BatchSize=1',
      'Filler.BatchSize=10',
    ]);
    expect(calls(r)).toEqual([
      'TankA.Start',
      'TankB.Start',
      'Reactor.Start',
      'Conveyor.Start',
      'Quality.Start',
      'Filler.Start',
      'Filler.Reset',
      'Filler.Start',
      'Filler.Reset',
      'Reactor.Reset',
      'TankA.Reset',
      'TankB.Reset',
    ]);
    expect(audits(r)).toEqual(['batch-started', 'batch-released']);
    expect(alerts(r)).toEqual([]);
    expect(r.output).toEqual({ unitsFilled: 10, corrections: 0, sampleViscosity: 1205 });
    expect(r.virtualMs).toBe(s(700));
    // the approval asked the supervisor for a signature
    const task = r.trace.flatMap((t) => t.commands).find((c) => c.type === 'task.open');
    expect(task).toMatchObject({ kind: 'approval', roles: ['supervisor'], signature: true });
    // device writes carry retries and an in-doubt policy
    const dispatchedWrite = r.dispatched.find((d) => d.action === 'opcua.write');
    expect(dispatchedWrite?.inDoubt).toBe('readBack');
  });

  it('retries a device write that finds the plant unreachable, then goes on', async () => {
    const unreachable = { error: { code: 'DEVICE_UNREACHABLE', message: 'plant restarting', retryable: true } };
    const r = await run({
      events: [...firstSample, tags(600, { 'Filler.State': 'Complete' }), tags(700, allIdle)],
      approvals: { approve: { decision: 'approve' } },
      responses: { setDoseB: [unreachable, unreachable, { value: { ok: true } }] },
    });
    expect(r.status).toBe('succeeded');
    expect(r.dispatched.filter((d) => d.stepId === 'setDoseB').map((d) => d.attempt)).toEqual([1, 2, 3]);
  });

  it('re-doses B when the sample is out of spec, re-heats, samples again and completes', async () => {
    const r = await run({
      answers: { checkLevel: [20], readMeasured: [0, 1], readPassed: [true, true], readViscosity: [1350, 1210] },
      events: [
        ...firstSample,
        tags(470, { 'TankB.State': 'Idle' }),
        tags(530, { 'TankB.State': 'Complete' }),
        tags(540, { 'Reactor.State': 'Idle' }),
        tags(640, { 'Reactor.State': 'Complete' }),
        tags(700, { 'Quality.Measured': 2, 'Filler.State': 'Complete' }),
        tags(710, { 'Filler.State': 'Idle' }),
        tags(900, { 'Filler.State': 'Complete' }),
        tags(1000, allIdle),
      ],
      approvals: { approve: { decision: 'approve', afterMs: 60_000 } },
    });
    expect(r.status).toBe('succeeded');
    expect(writes(r)).toEqual([
      'TankA.DoseSetpoint=300',
      'TankB.DoseSetpoint=200',
      'Reactor.TemperatureSetpoint=80',
      'Reactor.HoldTimeSetpoint=60',
      'Filler.BatchSize=1',
      'TankB.DoseSetpoint=20',
      'Filler.BatchSize=1',
      'Filler.BatchSize=10',
    ]);
    const c = calls(r);
    expect(c.slice(c.indexOf('TankB.Reset'), c.indexOf('TankB.Reset') + 4)).toEqual([
      'TankB.Reset',
      'TankB.Start',
      'Reactor.Reset',
      'Reactor.Start',
    ]);
    expect(r.output).toMatchObject({ corrections: 1, sampleViscosity: 1210 });
  });

  it('rejects the batch when the sample fails and no correction is left, compensating in reverse', async () => {
    const r = await run({
      params: { batchId: 'B-101', ...recipes['standard']?.parameters, maxCorrections: 0 },
      answers: { checkLevel: [20], readMeasured: [0], readPassed: [false], readViscosity: [1200] },
      events: firstSample,
    });
    expect(r.status).toBe('failed');
    expect(r.error?.code).toBe('BATCH_REJECTED');
    const tail = r.dispatched.slice(r.dispatched.findIndex((d) => d.stepId === 'recordReject')).map((d) => d.stepId);
    expect(tail).toEqual(['recordReject', 'coolDown', 'coolDownStop', 'coolDownEnd', 'disposeB', 'disposeA']);
    expect(writes(r).at(-1)).toBe('Reactor.TemperatureSetpoint=20');
    expect(writes(r)).not.toContain('Filler.BatchSize=10');
  });

  it('fails without filling when the supervisor rejects, recording the decision', async () => {
    const r = await run({
      events: firstSample,
      approvals: { approve: { decision: 'reject', afterMs: 30_000, user: 'sue', role: 'supervisor' } },
    });
    expect(r.status).toBe('failed');
    expect(r.error?.code).toBe('BATCH_NOT_APPROVED');
    expect(audits(r)).toEqual([
      'batch-started',
      'batch-not-approved',
      'reactor-cooled-down',
      'material-to-waste',
      'material-to-waste',
    ]);
    const decision = r.dispatched.find((d) => d.stepId === 'recordNotApproved')?.args['decision'];
    expect(decision).toMatchObject({ user: 'sue' });
    expect(writes(r)).not.toContain('Filler.BatchSize=10');
  });

  it('escalates slow heating: a warning after 15 min, then gives up after 45 min and cools down', async () => {
    const r = await run({ events: firstSample.slice(0, 2) });
    expect(r.status).toBe('failed');
    expect(r.error?.code).toBe('HEATING_TOO_SLOW');
    const raised = alerts(r);
    expect(raised[0]).toMatchObject({
      stepId: 'waitHeated',
      severity: 'warning',
      atMs: Date.UTC(2026, 0, 1) + s(1020),
    });
    const published = r.dispatched.filter((d) => d.action === 'publish').map((d) => d.args['code']);
    expect(published).toEqual(['BATCH_HEATING_TOO_SLOW']);
    expect(r.dispatched.find((d) => d.stepId === 'heatingTooSlow')).toBeDefined();
    expect(r.virtualMs).toBe(s(120) + 2_700_000);
    expect(writes(r).at(-1)).toBe('Reactor.TemperatureSetpoint=20');
  });

  it('warns after 5 min when a dose does not complete (an empty tank suspends), fails it after 30 min', async () => {
    const r = await run({ events: [tags(20, { 'TankA.State': 'Suspended' })] });
    expect(r.status).toBe('failed');
    expect(r.error?.code).toBe('DOSING_FAILED');
    expect(alerts(r)[0]).toMatchObject({
      stepId: 'waitDoseA',
      severity: 'warning',
      atMs: Date.UTC(2026, 0, 1) + 300_000,
    });
    const published = r.dispatched.filter((d) => d.action === 'publish').map((d) => d.args['code']);
    expect(published).toEqual(['BATCH_DOSING_FAILED']);
    expect(r.virtualMs).toBe(1_800_000);
  });

  it('goes on when a Reset is refused (a retry after a lost answer) and the unit reaches Idle', async () => {
    const refused = {
      error: { code: 'DEVICE_METHOD_FAILED', message: 'the server answered BadInvalidState', retryable: false },
    };
    const r = await run({
      events: [...firstSample, tags(600, { 'Filler.State': 'Complete' }), tags(700, allIdle)],
      approvals: { approve: { decision: 'approve' } },
      responses: { resetFiller: [refused], resetSampler: [refused] },
    });
    expect(r.error).toBeUndefined();
    expect(r.status).toBe('succeeded');
  });

  it('fails when a refused Reset leaves the unit out of Idle', async () => {
    const refused = { error: { code: 'DEVICE_METHOD_FAILED', message: 'BadInvalidState', retryable: false } };
    const r = await run({
      events: [...firstSample, tags(600, { 'Filler.State': 'Complete' })],
      approvals: { approve: { decision: 'approve' } },
      responses: { resetFiller: [refused] },
    });
    expect(r.status).toBe('failed');
    expect(r.error).toMatchObject({ code: 'WF_STEP_TIMEOUT', stepId: 'waitReleased' });
  });

  it('counts a reactor already Complete as heated when the temperature rise was never seen', async () => {
    // a plant restart or a dropped session hid the rise, the hold and the cooling afterwards
    const r = await run({
      events: [
        tags(60, { 'TankA.State': 'Complete' }),
        tags(120, { 'TankB.State': 'Complete' }),
        tags(400, { 'Reactor.State': 'Complete', 'Reactor.Temperature': 31 }),
        tags(450, { 'Quality.Measured': 1, 'Filler.State': 'Complete' }),
        tags(460, { 'Filler.State': 'Idle' }),
        tags(600, { 'Filler.State': 'Complete' }),
        tags(700, allIdle),
      ],
      approvals: { approve: { decision: 'approve' } },
    });
    expect(r.error).toBeUndefined();
    expect(r.status).toBe('succeeded');
    expect(alerts(r)).toEqual([]);
  });

  it.each([
    ['heating', 200, 'Aborted'],
    ['the hold', 350, 'Stopped'],
  ])(
    'ends with REACTOR_STOPPED and a critical alert when the reactor leaves Execute during %s',
    async (_, atS, state) => {
      const r = await run({
        events: [
          tags(60, { 'TankA.State': 'Complete' }),
          tags(120, { 'TankB.State': 'Complete' }),
          ...(atS > 300 ? [tags(300, { 'Reactor.Temperature': 80 })] : []),
          tags(atS, { 'Reactor.State': state }),
        ],
      });
      expect(r.status).toBe('failed');
      expect(r.error).toMatchObject({
        code: 'REACTOR_STOPPED',
        message: `batch B-100: the reactor went ${state} during heat and hold`,
      });
      const published = r.dispatched.filter((d) => d.action === 'publish').map((d) => d.args);
      expect(published).toEqual([expect.objectContaining({ severity: 'critical', code: 'BATCH_REACTOR_STOPPED' })]);
      // compensation: cool down and stop the reactor, the doses to waste
      const tail = r.dispatched
        .slice(r.dispatched.findIndex((d) => d.stepId === 'reactorStopped'))
        .map((d) => d.stepId);
      expect(tail).toEqual(['reactorStopped', 'coolDown', 'coolDownStop', 'coolDownEnd', 'disposeB', 'disposeA']);
      expect(r.virtualMs).toBe(s(atS));
    },
  );

  it('aborts to the safe state when the reactor level reaches 95 % while dosing', async () => {
    const r = await run({ events: [tags(30, { 'Reactor.Level': 96 })] });
    expect(r.status).toBe('aborted');
    const safe = r.dispatched.slice(r.dispatched.findIndex((d) => d.stepId === 'safeHeater'));
    expect(safe.map((d) => d.stepId)).toEqual([
      'safeHeater',
      'safeReactor',
      'safeTankA',
      'safeTankB',
      'safeFiller',
      'recordAbort',
    ]);
    expect(safe[0]?.args).toMatchObject({ nodeId: `${NS}Reactor.TemperatureSetpoint`, value: 20 });
    expect(alerts(r).map((a) => a.code)).toContain('WF_INTERLOCK_BREACHED');
  });

  it('refuses to start a batch that would overfill the reactor', async () => {
    const r = await run({ answers: { checkLevel: [80] } });
    expect(r.status).toBe('failed');
    expect(r.error?.code).toBe('REACTOR_LEVEL_TOO_HIGH');
    expect(calls(r)).toEqual([]);
  });
});
