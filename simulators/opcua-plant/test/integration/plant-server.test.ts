import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@takt/test-support';
import { PLANT_NAMESPACE_URI } from '../../src/opcua/address-space.js';
import { type Fixture, record, startFixture, waitForValue } from './support.js';

let fx: Fixture;

beforeAll(async () => {
  fx = await startFixture();
});

afterAll(async () => {
  await fx?.close();
});

const statusOf = async (promise: Promise<unknown>): Promise<string> => {
  try {
    await promise;
    return 'Good';
  } catch (error) {
    return (error as { details?: { statusCode?: string } }).details?.statusCode ?? String(error);
  }
};

describe('address space', () => {
  it('puts the plant in its own namespace with stable string NodeIds', async () => {
    const { session } = fx.client;
    const namespaces = await session.readNamespaceArray();
    expect(namespaces[1]).toBe(PLANT_NAMESPACE_URI);
    const browse = await session.browse(fx.client.nodeId('Plant'));
    const names = (browse.references ?? []).map((r) => r.browseName.name);
    expect(names).toEqual(
      expect.arrayContaining(['TankA', 'TankB', 'Reactor', 'Dry', 'Filler', 'Conveyor', 'Quality', 'EmergencyStop']),
    );
    const reactor = await session.browse(fx.client.nodeId('Reactor'));
    const reactorChildren = new Map((reactor.references ?? []).map((r) => [r.browseName.name, r.nodeId.toString()]));
    expect(reactorChildren.get('Temperature')).toBe('ns=1;s=Reactor.Temperature');
    expect(reactorChildren.get('Start')).toBe('ns=1;s=Reactor.Start');
    expect(reactorChildren.get('StateCurrent')).toBe('ns=1;s=Reactor.StateCurrent');
    expect(reactorChildren.get('Alarms')).toBe('ns=1;s=Reactor.Alarms');
  });

  it('publishes EngineeringUnits and EURange on analog tags', async () => {
    const { session, lib } = fx.client;
    const props = await session.browse({
      nodeId: fx.client.nodeId('Reactor.Temperature'),
      referenceTypeId: 'HasProperty',
      browseDirection: lib.BrowseDirection.Forward,
      resultMask: 63,
    });
    const byName = new Map((props.references ?? []).map((r) => [r.browseName.name, r.nodeId]));
    const range = (await session.read({ nodeId: byName.get('EURange')!, attributeId: lib.AttributeIds.Value })).value
      .value as { low: number; high: number };
    expect({ low: range.low, high: range.high }).toEqual({ low: 0, high: 200 });
    const eu = (await session.read({ nodeId: byName.get('EngineeringUnits')!, attributeId: lib.AttributeIds.Value }))
      .value.value as { displayName: { text: string }; unitId: number };
    expect(eu.displayName.text).toBe('°C');
    expect(eu.unitId).toBe(4408652); // UNECE "CEL"
    expect(await fx.client.read('Reactor.Temperature')).toBe(20);
  });

  it('accepts setpoint writes within the range and refuses others', async () => {
    const { session, lib } = fx.client;
    const write = async (path: string, dataType: number, value: unknown) =>
      (
        await session.write({
          nodeId: fx.client.nodeId(path),
          attributeId: lib.AttributeIds.Value,
          value: { value: { dataType, value } },
        })
      ).name;
    expect(await write('Reactor.HoldTimeSetpoint', lib.DataType.Double, 20)).toBe('Good');
    expect(await fx.client.read('Reactor.HoldTimeSetpoint')).toBe(20);
    expect(fx.plant.runtime.state.units['Reactor']?.values['HoldTimeSetpoint']).toBe(20);
    expect(await write('Reactor.TemperatureSetpoint', lib.DataType.Double, 500)).toBe('BadOutOfRange');
    expect(await write('Reactor.Temperature', lib.DataType.Double, 50)).toBe('BadNotWritable');
    expect(await fx.client.read('Reactor.TemperatureSetpoint')).toBe(60);
  });
});

describe('PackML', () => {
  it('goes Idle → Starting → Execute → Completing → Complete through its methods', async () => {
    expect(await fx.client.read('TankA.State')).toBe('Idle');
    const states = await record(fx.client, 'TankA.State');
    await fx.client.call('TankA.Start');
    await waitFor(() => states.values.includes('Complete'), { description: 'TankA Complete' });
    await states.stop();
    expect(states.values).toEqual(['Idle', 'Starting', 'Execute', 'Completing', 'Complete']);
    expect(await fx.client.read('TankA.StateCurrent')).toBe(17);
    expect(await fx.client.read('TankA.Dosed')).toBeCloseTo(100, 0);
    expect(await fx.client.read('TankA.Discharged')).toBeCloseTo(100, 0);
    expect(await statusOf(fx.client.call('TankA.Start'))).toBe('BadInvalidState');
    await expect(fx.client.call('TankA.Hold')).rejects.toMatchObject({ code: 'PLANT_COMMAND_INVALID' });
    await fx.client.call('TankA.Reset');
    await waitForValue(fx.client, 'TankA.State', (s) => s === 'Idle');
  });

  it('holds and unholds a running unit', async () => {
    await fx.client.call('Conveyor.Start');
    await waitForValue(fx.client, 'Conveyor.Running', (v) => v === true);
    await fx.client.call('Conveyor.Hold');
    await waitForValue(fx.client, 'Conveyor.State', (s) => s === 'Held');
    expect(await fx.client.read('Conveyor.Running')).toBe(false);
    await fx.client.call('Conveyor.Unhold');
    await waitForValue(fx.client, 'Conveyor.State', (s) => s === 'Execute');
    await fx.client.call('Conveyor.Stop');
    await waitForValue(fx.client, 'Conveyor.State', (s) => s === 'Stopped');
    await fx.client.call('Conveyor.Reset');
    await waitForValue(fx.client, 'Conveyor.State', (s) => s === 'Idle');
  });

  it('heats the reactor to its setpoint under the speed-up and completes the batch', async () => {
    const { session, lib } = fx.client;
    const setHoldTime = async (seconds: number) =>
      session.write({
        nodeId: fx.client.nodeId('Reactor.HoldTimeSetpoint'),
        attributeId: lib.AttributeIds.Value,
        value: { value: { dataType: lib.DataType.Double, value: seconds } },
      });
    await setHoldTime(3600);
    await fx.client.call('Reactor.Start');
    await waitForValue(fx.client, 'Reactor.Heater', (v) => v === true);
    const reached = await waitForValue<number>(fx.client, 'Reactor.Temperature', (t) => t >= 59.4, 15_000);
    expect(reached).toBeLessThan(62);
    expect(await fx.client.read('Reactor.AgitatorSpeed')).toBe(120);
    // the on/off controller holds the setpoint within its hysteresis
    await waitForValue<number>(fx.client, 'Reactor.HoldElapsed', (t) => t >= 60);
    expect(Math.abs(((await fx.client.read('Reactor.Temperature')) as number) - 60)).toBeLessThan(1.5);
    expect(await fx.client.read('Reactor.State')).toBe('Execute');
    await setHoldTime(10);
    await waitForValue(fx.client, 'Reactor.State', (s) => s === 'Complete');
    expect(await fx.client.read('Reactor.Heater')).toBe(false);
    await fx.client.call('Reactor.Reset');
  });

  it('fills, conveys and checks units; the counters add up', async () => {
    await fx.client.call('Conveyor.Start');
    await fx.client.call('Quality.Start');
    const before = (await fx.client.read('Filler.Count')) as number;
    await fx.client.call('Filler.Start');
    await waitForValue(fx.client, 'Filler.State', (s) => s === 'Complete', 15_000);
    expect(await fx.client.read('Filler.Count')).toBe(before + 5);
    await waitForValue(fx.client, 'Quality.Measured', (n) => n === before + 5, 15_000);
    const passed = (await fx.client.read('Quality.Passed')) as number;
    const rejected = (await fx.client.read('Quality.Rejected')) as number;
    expect(passed + rejected).toBe(before + 5);
    const snapshot = fx.plant.runtime.snapshot();
    expect(snapshot.units['Quality']?.values['Measured']).toBe(before + 5);
  });
});

describe('subscriptions', () => {
  it('grants a 10 ms publishing interval (node-opcua alone would raise it to 50 ms), and no faster', async () => {
    const { session } = fx.client;
    const grant = async (requested: number): Promise<number> => {
      const subscription = await session.createSubscription2({
        requestedPublishingInterval: requested,
        requestedLifetimeCount: 1000,
        requestedMaxKeepAliveCount: 10,
        publishingEnabled: true,
      });
      const granted = subscription.publishingInterval;
      await subscription.terminate();
      return granted;
    };
    expect(await grant(10)).toBe(10);
    expect(await grant(2)).toBe(10);
    expect(await grant(250)).toBe(250);
  });
});

describe('safety', () => {
  it('forces the heater off and raises HeaterInterlock when the level is low, as an alarm event', async () => {
    const { session, lib } = fx.client;
    const subscription = await session.createSubscription2({
      requestedPublishingInterval: 10,
      requestedLifetimeCount: 1000,
      requestedMaxKeepAliveCount: 10,
      publishingEnabled: true,
    });
    const events: { source: unknown; condition: unknown }[] = [];
    const item = await subscription.monitor(
      { nodeId: 'i=2253', attributeId: lib.AttributeIds.EventNotifier },
      { samplingInterval: 0, queueSize: 100, filter: lib.constructEventFilter(['SourceName', 'ConditionName']) },
      lib.TimestampsToReturn.Both,
    );
    item.on('changed', (fields: unknown) => {
      const [source, condition] = (fields as { value: unknown }[]).map((f) => f.value);
      events.push({ source, condition });
    });
    await fx.client.call('Dry.Start');
    await waitForValue(fx.client, 'Dry.Alarms.HeaterInterlock', (v) => v === true);
    expect(await fx.client.read('Dry.Heater')).toBe(false);
    const [active] = await session.translateBrowsePath([
      lib.makeBrowsePath(fx.client.nodeId('Dry.Alarms.HeaterInterlock.Condition'), '.ActiveState.Id'),
    ]);
    const activeId = active?.targets?.[0]?.targetId;
    expect(activeId).toBeDefined();
    const dv = await session.read({ nodeId: activeId!.toString(), attributeId: lib.AttributeIds.Value });
    expect(dv.value.value).toBe(true);
    await waitFor(() => events.some((e) => String(e.source).endsWith('Dry') && e.condition === 'HeaterInterlock'), {
      description: 'HeaterInterlock alarm event on the Server object',
    });
    await subscription.terminate();
    await fx.client.call('Dry.Stop');
    await waitForValue(fx.client, 'Dry.Alarms.HeaterInterlock', (v) => v === false);
  });

  it('closes the inlet valve of a full tank and raises HighLevel', async () => {
    const { session, lib } = fx.client;
    await session.write({
      nodeId: fx.client.nodeId('TankB.InletValve'),
      attributeId: lib.AttributeIds.Value,
      value: { value: { dataType: lib.DataType.Boolean, value: true } },
    });
    await waitForValue(fx.client, 'TankB.Alarms.HighLevel', (v) => v === true);
    expect(await fx.client.read('TankB.InletValve')).toBe(false);
    expect(await fx.client.read('TankB.Level')).toBeLessThan(96);
  });

  it('aborts every unit on emergency stop; Clear is refused until it is released', async () => {
    const { session, lib } = fx.client;
    const estop = async (pressed: boolean) =>
      session.write({
        nodeId: fx.client.nodeId('Plant.EmergencyStop'),
        attributeId: lib.AttributeIds.Value,
        value: { value: { dataType: lib.DataType.Boolean, value: pressed } },
      });
    await estop(true);
    await waitForValue(fx.client, 'Plant.Alarms.EmergencyStop', (v) => v === true);
    await waitFor(() => Object.values(fx.plant.runtime.snapshot().units).every((u) => u.state === 'Aborted'), {
      description: 'every unit Aborted',
    });
    expect(await statusOf(fx.client.call('TankA.Clear'))).toBe('BadRequestNotAllowed');
    await estop(false);
    for (const unit of ['TankA', 'TankB', 'Reactor', 'Dry', 'Filler', 'Conveyor', 'Quality']) {
      await fx.client.call(`${unit}.Clear`);
    }
    await waitForValue(fx.client, 'Quality.State', (s) => s === 'Stopped');
    await fx.client.call('TankA.Reset');
    await waitForValue(fx.client, 'TankA.State', (s) => s === 'Idle');
  });
});
