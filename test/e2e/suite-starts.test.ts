/**
 * The suite starts as `npm start` starts it — emulator, plant and every module under modules/ as
 * separate processes — and each part answers: the emulator's control API, the plant's OPC UA server
 * (diagnostics), the batch workflow in the orchestrator's twin, and every module logs `ready`.
 */
import { EdgeHubControlClient } from '@takt/sim-edge-hub';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliIo, runCli } from '../../scripts/takt.js';
import { createUser, plantStates } from './src/batch.js';
import { type Suite, discoverModules, startSuite } from './src/suite.js';

/**
 * Modules that cannot start under the test egress guard yet, each with the reason. Remove an entry as
 * soon as its module is fixed: the test then requires it to be ready like the others.
 */
const pending: Readonly<Record<string, string>> = {};

describe('the suite (separate processes)', () => {
  let suite: Suite;
  const expected = discoverModules().filter((id) => pending[id] === undefined);

  beforeAll(async () => {
    suite = await startSuite({ host: '127.48.1.1', plantSpeed: 50, modules: expected });
  }, 120_000);

  afterAll(async () => {
    await suite?.stop();
  }, 60_000);

  it('starts the emulator with the manifest, carrying the batch workflow for the orchestrator', async () => {
    const status = await suite.control.status();
    expect(status.online).toBe(true);
    const twin = await suite.control.twin('orchestrator');
    const workflows = twin.desired['workflows'] as Record<string, { id?: string }> | undefined;
    expect(workflows?.['batch']?.id).toBe('batch');
    expect((twin.desired['settings'] as { defaultEndpointUrl?: string }).defaultEndpointUrl).toBe(suite.plantUrl);
  });

  it('starts the plant: every unit Idle, the OPC UA server up', async () => {
    const health = (await (await fetch(`${suite.diagUrl}/healthz`)).json()) as { ok: boolean; opcua: unknown };
    expect(health.ok).toBe(true);
    expect(await plantStates(suite)).toEqual({
      TankA: 'Idle',
      TankB: 'Idle',
      Reactor: 'Idle',
      Filler: 'Idle',
      Conveyor: 'Idle',
      Quality: 'Idle',
    });
  });

  it('starts every module under modules/ and each one reaches ready', async () => {
    const started = [...suite.modules.keys()].sort();
    expect(started).toEqual(expected);
    expect(started.length + Object.keys(pending).length).toBe(discoverModules().length);
    const readiness = await suite.waitReady(90_000);
    expect(readiness).toEqual(Object.fromEntries(started.map((id) => [id, 'ready'])));
    const { modules } = await suite.control.status();
    const connected = modules.filter((m) => m.connected).map((m) => m.moduleId);
    for (const id of started) expect(connected, `${id} connected to edgeHub`).toContain(id);
  }, 150_000);

  it('answers the command-line client: instances, tasks, audit query and chain verification', async () => {
    await suite.waitReady(90_000);
    const run = async (...argv: string[]): Promise<{ code: number; out: unknown; err: string }> => {
      let out = '';
      let err = '';
      const io: CliIo = {
        out: (t) => void (out += t),
        err: (t) => void (err += t),
        env: {},
        cwd: process.cwd(),
        root: process.cwd(),
        control: (url) => new EdgeHubControlClient(url, { timeoutMs: 60_000 }),
        now: () => new Date(),
      };
      const code = await runCli([...argv, '--control', suite.controlUrl], io);
      return { code, out: out === '' ? undefined : (JSON.parse(out) as unknown), err };
    };
    const instances = await run('instances');
    expect(instances).toMatchObject({ code: 0, out: { items: [], total: 0 } });
    expect(await run('tasks')).toMatchObject({ code: 0, out: { items: [] } });
    if (suite.modules.has('audit')) {
      const audit = await run('audit', '--limit', '10');
      expect(audit.code, audit.err).toBe(0);
      expect(audit.out).toMatchObject({ records: expect.any(Array) as unknown });
      const verify = await run('verify');
      expect(verify.code, verify.err).toBe(0);
      expect(verify.out).toMatchObject({ status: 'intact' });
    }
    // a supervisor for approvals, created through the console API as the suite's admin
    await createUser(suite, 'sue', 'sue-password', ['supervisor', 'operator']);
    const wrong = await run('approve', 'no-such-instance', '--user', 'sue', '--password', 'x', '--reason', 'r');
    expect(wrong.code).toBe(1);
    const unknown = await run('instance', 'no-such-instance');
    expect(unknown.code).toBe(1);
    expect(unknown.err).toContain('WF_INSTANCE_NOT_FOUND');
  }, 120_000);
});
