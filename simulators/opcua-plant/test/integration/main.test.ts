import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChildHandle, type TempDir, createTempDir, spawnTs, waitFor } from '@takt/test-support';
import { TEST_LAYOUT } from './support.js';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
const READY = /^opcua-plant ready (opc\.tcp:\/\/\S+) .*diag=(http:\/\/\S+) startupMs=(\d+) rssMb=(\d+)/;

let dir: TempDir;
let plant: ChildHandle;
let endpointUrl: string;
let diagUrl: string;

beforeAll(async () => {
  dir = await createTempDir('takt-plant-main-');
  plant = spawnTs(
    MAIN,
    ['--port', '0', '--diag-port', '0', '--speed', '50', '--layout', TEST_LAYOUT, '--data-dir', dir.join('data')],
    { name: 'opcua-plant', stopAfterTest: false, env: { PLANT_USERS: 'operator:secret' } },
  );
  const line = await plant.waitForLine(READY, 30_000);
  const match = READY.exec(line)!;
  endpointUrl = match[1]!;
  diagUrl = match[2]!;
});

afterAll(async () => {
  await plant?.stop();
  await dir?.remove();
});

async function state(): Promise<{ faults: { id: string; kind: string }[]; units: Record<string, { state: string }> }> {
  const res = await fetch(`${diagUrl}/state`);
  return (await res.json()) as { faults: { id: string; kind: string }[]; units: Record<string, { state: string }> };
}

async function cli(...args: string[]): Promise<{ code: number | NodeJS.Signals; lines: unknown[] }> {
  const child = spawnTs(CLI, ['--endpoint', endpointUrl, '--pki-dir', dir.join('cli-pki'), ...args], { name: 'cli' });
  const code = await child.waitForExit(30_000);
  const lines = child
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as unknown);
  return { code, lines };
}

describe('the simulator process', () => {
  it('prints a ready line with the endpoint, the diagnostics URL, startup time and RSS', () => {
    expect(endpointUrl).toMatch(/^opc\.tcp:\/\/127\.0\.0\.1:\d+$/);
    expect(diagUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(plant.output()).not.toContain('secret');
  });

  it('injects, lists and clears a fault and sends commands through the CLI', async () => {
    const injected = await cli('inject', 'frozenSensor', 'Reactor.Temperature');
    expect(injected.code).toBe(0);
    expect(injected.lines).toEqual([{ injected: 'frozenSensor', target: 'Reactor.Temperature', faultId: 'F1' }]);
    expect((await state()).faults).toEqual([expect.objectContaining({ id: 'F1', kind: 'frozenSensor' })]);
    // independent calls run side by side: each CLI run is a Node process that loads node-opcua
    const [started, bad] = await Promise.all([
      cli('command', 'Conveyor', 'Start'),
      cli('inject', 'stuckValve', 'Reactor.Temperature'),
    ]);
    expect(started.lines).toEqual([{ unit: 'Conveyor', command: 'Start', state: expect.any(String) as unknown }]);
    expect(bad.code).toBe(1);
    expect(bad.lines).toEqual([expect.objectContaining({ error: 'PLANT_FAULT_INVALID' })]);
    await waitFor(async () => (await state()).units['Conveyor']?.state === 'Execute', {
      description: 'Conveyor Execute',
    });
    const cleared = await cli('clear', '*');
    expect(cleared.lines).toEqual([{ cleared: 1 }]);
    expect((await state()).faults).toEqual([]);
    const health = (await (await fetch(`${diagUrl}/healthz`)).json()) as Record<string, unknown>;
    expect(health).toMatchObject({ ok: true, opcua: true, restarts: 0 });
  });

  it('stops cleanly on SIGTERM', async () => {
    plant.signal('SIGTERM');
    expect(await plant.waitForExit(15_000)).toBe(0);
    expect(plant.output()).toMatch(/stopped/);
  });
});
