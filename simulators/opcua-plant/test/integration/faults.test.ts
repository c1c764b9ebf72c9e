import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@takt/test-support';
import { type Fixture, record, startFixture, waitForValue } from './support.js';

let fx: Fixture;

beforeAll(async () => {
  fx = await startFixture();
});

afterAll(async () => {
  await fx?.close();
});

async function inject(kind: string, target: string, value = 0): Promise<string> {
  const { DataType } = fx.client.lib;
  const [id] = await fx.client.call('Simulation.InjectFault', [
    { dataType: DataType.String, value: kind },
    { dataType: DataType.String, value: target },
    { dataType: DataType.Double, value },
  ]);
  return String(id);
}

async function clear(which: string): Promise<number> {
  const [cleared] = await fx.client.call('Simulation.ClearFault', [
    { dataType: fx.client.lib.DataType.String, value: which },
  ]);
  return Number(cleared);
}

async function activeFaults(): Promise<{ id: string; kind: string; target: string }[]> {
  return JSON.parse(String(await fx.client.read('Simulation.ActiveFaults'))) as {
    id: string;
    kind: string;
    target: string;
  }[];
}

async function write(path: string, value: boolean | number): Promise<string> {
  const { lib, session } = fx.client;
  const dataType = typeof value === 'boolean' ? lib.DataType.Boolean : lib.DataType.Double;
  const status = await session.write({
    nodeId: fx.client.nodeId(path),
    attributeId: lib.AttributeIds.Value,
    value: { value: { dataType, value } },
  });
  return status.name;
}

const statusOf = async (promise: Promise<unknown>): Promise<string> => {
  try {
    await promise;
    return 'Good';
  } catch (error) {
    return (error as { details?: { statusCode?: string } }).details?.statusCode ?? String(error);
  }
};

const trueValue = (unit: string, tag: string): unknown => fx.plant.runtime.state.units[unit]?.values[tag];

describe('fault injection through OPC UA methods', () => {
  it('sticks a valve and releases it', async () => {
    const id = await inject('stuckValve', 'TankA.InletValve', 0);
    expect(await activeFaults()).toEqual([
      expect.objectContaining({ id, kind: 'stuckValve', target: 'TankA.InletValve' }),
    ]);
    expect(await write('TankA.InletValve', true)).toBe('Good');
    await waitForValue(fx.client, 'TankA.InletValve', (v) => v === false);
    expect(await fx.client.read('TankA.InletFlow')).toBe(0);
    expect(await clear(id)).toBe(1);
    await waitForValue(fx.client, 'TankA.InletValve', (v) => v === true);
    await write('TankA.InletValve', false);
    expect(await activeFaults()).toEqual([]);
  });

  it('freezes a sensor while the process moves on, then unfreezes it', async () => {
    await fx.client.call('Reactor.Start');
    await waitForValue(fx.client, 'Reactor.Heater', (v) => v === true);
    const id = await inject('frozenSensor', 'Reactor.Temperature');
    const frozen = (await fx.client.read('Reactor.Temperature')) as number;
    await waitFor(() => (trueValue('Reactor', 'Temperature') as number) > frozen + 5, {
      description: 'true temperature rises',
    });
    expect(await fx.client.read('Reactor.Temperature')).toBe(frozen);
    await clear(id);
    await waitForValue<number>(fx.client, 'Reactor.Temperature', (t) => t > frozen + 5);
    await fx.client.call('Reactor.Stop');
  });

  it('adds noise to a sensor', async () => {
    const level = (await fx.client.read('TankB.Level')) as number;
    const values = await record(fx.client, 'TankB.Level');
    const id = await inject('noisySensor', 'TankB.Level', 1);
    await waitFor(() => new Set(values.values).size >= 5, { description: 'five distinct noisy readings' });
    await values.stop();
    for (const v of values.values) expect(Math.abs((v as number) - level)).toBeLessThanOrEqual(1.01);
    await clear(id);
    await waitForValue(fx.client, 'TankB.Level', (v) => v === level);
  });

  it('drifts a sensor away from the truth', async () => {
    const id = await inject('drift', 'Dry.Pressure', 0.3);
    expect(await activeFaults()).toEqual([expect.objectContaining({ id, kind: 'drift', value: 0.3 })]);
    const truth = Math.round((trueValue('Dry', 'Pressure') as number) * 1000) / 1000;
    await waitForValue<number>(fx.client, 'Dry.Pressure', (p) => p > truth + 0.1);
    await clear('Dry.Pressure');
    await waitForValue(fx.client, 'Dry.Pressure', (p) => p === truth);
  });

  it('makes a unit reject commands, or silently ignore them', async () => {
    const reject = await inject('refuseCommands', 'Filler', 0);
    expect(await statusOf(fx.client.call('Filler.Start'))).toBe('BadDeviceFailure');
    await expect(fx.client.call('Filler.Start')).rejects.toMatchObject({ code: 'PLANT_COMMAND_REFUSED' });
    await inject('refuseCommands', 'Filler', 1);
    expect(await statusOf(fx.client.call('Filler.Start'))).toBe('Good');
    expect(await fx.client.read('Filler.State')).toBe('Idle');
    expect(await statusOf(clear(reject))).toBe('BadNotFound'); // replaced by the ignore fault
    await clear('Filler');
    await fx.client.call('Filler.Stop');
    await waitForValue(fx.client, 'Filler.State', (s) => s === 'Stopped');
  });

  it('slows a unit’s methods down', async () => {
    const id = await inject('slowMethod', 'Filler', 400);
    const started = performance.now();
    await fx.client.call('Filler.Reset');
    expect(performance.now() - started).toBeGreaterThanOrEqual(390);
    await clear(id);
    const again = performance.now();
    await fx.client.call('Filler.Abort');
    expect(performance.now() - again).toBeLessThan(390);
  });

  it('rejects faults that do not fit their target', async () => {
    expect(await statusOf(inject('stuckValve', 'Reactor.Temperature'))).toBe('BadInvalidArgument');
    expect(await statusOf(inject('meteorStrike', 'Reactor'))).toBe('BadInvalidArgument');
    expect(await statusOf(clear('F999'))).toBe('BadNotFound');
  });
});

describe('server faults', () => {
  it('drops every session; the client reconnects with a new one', async () => {
    let lost = 0;
    fx.client.client.on('connection_lost', () => {
      lost += 1;
    });
    expect(fx.plant.server.sessionCount()).toBe(1);
    expect(await inject('dropSessions', '')).toBe('');
    await waitFor(() => lost > 0, { description: 'connection lost' });
    await waitFor(async () => (await fx.client.read('Plant.Layout')) === 'test-plant', {
      timeoutMs: 20_000,
      description: 'reads work again',
    });
    expect(fx.plant.server.sessionCount()).toBe(1);
  });

  it('restarts the OPC UA server in-process on the same port while the plant keeps running', async () => {
    const port = fx.plant.port;
    const simTime = fx.plant.runtime.state.timeMs;
    await inject('restart', '', 300);
    await waitFor(() => !fx.plant.server.running, { description: 'server down' });
    await waitFor(() => fx.plant.server.restarts === 1 && fx.plant.server.running, { description: 'server back' });
    expect(fx.plant.port).toBe(port);
    await waitFor(async () => (await fx.client.read('Plant.Layout')) === 'test-plant', {
      timeoutMs: 20_000,
      description: 'reads work after the restart',
    });
    expect(fx.plant.runtime.state.timeMs).toBeGreaterThan(simTime);
    expect(await fx.client.read('TankA.Dosed')).toBe(0);
  });
});
