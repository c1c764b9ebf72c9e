import { describe, expect, it } from 'vitest';
import { findTag, parseLayout } from '../../src/layout/layout.js';
import {
  type PlantState,
  applyCommand,
  clearFault,
  createPlantState,
  injectFault,
  measured,
  reportedValues,
  stepPlant,
  writeTag,
} from '../../src/model/plant.js';

const layout = parseLayout({
  name: 'test-plant',
  actingTimeS: 1,
  units: [
    { id: 'TankA', kind: 'dosingTank', links: { target: 'Reactor' }, initial: { Volume: 500, DoseSetpoint: 100 } },
    { id: 'Reactor', kind: 'reactor', initial: { Volume: 400, TemperatureSetpoint: 60, HoldTimeSetpoint: 30 } },
    { id: 'Dry', kind: 'reactor', initial: { Volume: 50 } },
    { id: 'Filler', kind: 'filler', links: { source: 'Reactor', output: 'Conveyor' }, initial: { BatchSize: 5 } },
    { id: 'Conveyor', kind: 'conveyor', links: { output: 'Quality' }, parameters: { lengthM: 2 } },
    { id: 'Quality', kind: 'qualityStation', initial: { DefectRate: 0.5 } },
  ],
});

const unit = (s: PlantState, id: string) => s.units[id]!;
const value = (s: PlantState, path: string) => reportedValues(s, layout).get(path);

function command(s: PlantState, id: string, cmd: Parameters<typeof applyCommand>[3]): PlantState {
  const result = applyCommand(s, layout, id, cmd);
  expect(result.outcome).toBe('accepted');
  return result.state;
}

/** Steps until `done` holds, at most `maxMs` of simulated time. Returns the state and the states seen. */
function runUntil(s: PlantState, done: (s: PlantState) => boolean, maxMs = 3_600_000, stepMs = 250) {
  let state = s;
  for (let t = 0; t < maxMs && !done(state); t += stepMs) state = stepPlant(state, layout, stepMs);
  expect(done(state)).toBe(true);
  return state;
}

describe('plant model', () => {
  it('does not change the state it is given', () => {
    const s0 = createPlantState(layout);
    const copy = structuredClone(s0);
    stepPlant(s0, layout, 10_000);
    applyCommand(s0, layout, 'Reactor', 'Start');
    expect(s0).toEqual(copy);
  });

  it('doses a tank through Starting, Execute, Completing to Complete and counts what it discharged', () => {
    let s = command(createPlantState(layout), 'TankA', 'Start');
    const seen: string[] = [unit(s, 'TankA').state];
    for (let i = 0; i < 2000 && unit(s, 'TankA').state !== 'Complete'; i++) {
      s = stepPlant(s, layout, 250);
      if (seen.at(-1) !== unit(s, 'TankA').state) seen.push(unit(s, 'TankA').state);
    }
    expect(seen).toEqual(['Starting', 'Execute', 'Completing', 'Complete']);
    expect(value(s, 'TankA.Dosed')).toBeCloseTo(100, 0);
    expect(value(s, 'TankA.Discharged')).toBeCloseTo(100, 0);
    expect(value(s, 'TankA.Volume')).toBeCloseTo(400, 0);
    expect(value(s, 'Reactor.Volume')).toBeCloseTo(500, 0);
    expect(value(s, 'TankA.OutletValve')).toBe(false);
    s = command(s, 'TankA', 'Reset');
    s = runUntil(s, (x) => unit(x, 'TankA').state === 'Idle');
  });

  it('heats the reactor to its setpoint with a first-order lag, holds it, then completes', () => {
    let s = command(createPlantState(layout), 'Reactor', 'Start');
    s = runUntil(s, (x) => unit(x, 'Reactor').state === 'Execute');
    expect(value(s, 'Reactor.Heater')).toBe(true);
    expect(value(s, 'Reactor.Agitator')).toBe(true);
    s = runUntil(s, (x) => (value(x, 'Reactor.Temperature') as number) >= 59.5);
    // first-order lag from 20 °C towards 180 °C with tau 300 s: 59.5 °C after ≈ 86 s
    expect(s.timeMs / 1000).toBeGreaterThan(80);
    expect(s.timeMs / 1000).toBeLessThan(100);
    expect(value(s, 'Reactor.Pressure') as number).toBeGreaterThan(1.1);
    s = runUntil(s, (x) => unit(x, 'Reactor').state === 'Complete');
    expect(Math.abs((value(s, 'Reactor.Temperature') as number) - 60)).toBeLessThan(2);
    expect(value(s, 'Reactor.HoldElapsed') as number).toBeGreaterThanOrEqual(30);
    expect(value(s, 'Reactor.Heater')).toBe(false);
  });

  it('trips the heater interlock when the level is low', () => {
    let s = command(createPlantState(layout), 'Dry', 'Start');
    s = runUntil(s, (x) => unit(x, 'Dry').state === 'Execute');
    s = stepPlant(s, layout, 60_000);
    expect(value(s, 'Dry.Alarms.HeaterInterlock')).toBe(true);
    expect(value(s, 'Dry.Heater')).toBe(false);
    expect(value(s, 'Dry.Temperature')).toBe(20);
  });

  it('closes the inlet valve and raises HighLevel when the tank is full', () => {
    let s = writeTag(createPlantState(layout), layout, 'TankA.InletValve', true).state;
    expect(value(s, 'TankA.InletValve')).toBe(true);
    s = runUntil(s, (x) => value(x, 'TankA.Alarms.HighLevel') === true);
    expect(value(s, 'TankA.InletValve')).toBe(false);
    s = stepPlant(s, layout, 60_000);
    expect(value(s, 'TankA.Level') as number).toBeLessThan(96);
  });

  it('fills, conveys and measures units with the configured defect rate', () => {
    let s = command(createPlantState(layout), 'Conveyor', 'Start');
    s = command(s, 'Quality', 'Start');
    s = command(s, 'Filler', 'Start');
    s = runUntil(s, (x) => unit(x, 'Filler').state === 'Complete');
    expect(value(s, 'Filler.Count')).toBe(5);
    s = runUntil(s, (x) => value(x, 'Quality.Measured') === 5);
    const passed = value(s, 'Quality.Passed') as number;
    const rejected = value(s, 'Quality.Rejected') as number;
    expect(passed + rejected).toBe(5);
    expect(value(s, 'Conveyor.Transported')).toBe(5);
    expect(value(s, 'Reactor.Volume')).toBeCloseTo(395, 5);
  });

  it('refuses commands the state model does not allow', () => {
    const s = createPlantState(layout);
    expect(applyCommand(s, layout, 'Reactor', 'Unhold').outcome).toBe('invalidState');
    expect(() => applyCommand(s, layout, 'Nope', 'Start')).toThrow(
      expect.objectContaining({ code: 'PLANT_UNIT_UNKNOWN' }),
    );
  });

  it('aborts every unit on emergency stop and refuses Clear until it is released', () => {
    let s = command(createPlantState(layout), 'Reactor', 'Start');
    s = writeTag(s, layout, 'Plant.EmergencyStop', true).state;
    s = runUntil(s, (x) => Object.values(x.units).every((u) => u.state === 'Aborted'));
    expect(value(s, 'Plant.Alarms.EmergencyStop')).toBe(true);
    expect(applyCommand(s, layout, 'Reactor', 'Clear').outcome).toBe('interlock');
    s = writeTag(s, layout, 'Plant.EmergencyStop', false).state;
    s = command(s, 'Reactor', 'Clear');
    s = runUntil(s, (x) => unit(x, 'Reactor').state === 'Stopped');
  });

  it('rejects writes that are not allowed', () => {
    const s = createPlantState(layout);
    expect(writeTag(s, layout, 'Reactor.Temperature', 50).outcome).toBe('notWritable');
    expect(writeTag(s, layout, 'Reactor.TemperatureSetpoint', 500).outcome).toBe('outOfRange');
    expect(writeTag(s, layout, 'Reactor.TemperatureSetpoint', true).outcome).toBe('typeMismatch');
    expect(writeTag(s, layout, 'Filler.BatchSize', 2.5).outcome).toBe('typeMismatch');
    expect(() => writeTag(s, layout, 'Reactor.Nope', 1)).toThrow(
      expect.objectContaining({ code: 'PLANT_TAG_UNKNOWN' }),
    );
  });

  describe('faults', () => {
    const temperature = findTag(layout, 'Reactor.Temperature')!;

    it('freezes a sensor and fools the PLC', () => {
      let s = command(createPlantState(layout), 'Reactor', 'Start');
      s = injectFault(s, layout, { kind: 'frozenSensor', target: 'Reactor.Temperature' }).state;
      s = stepPlant(s, layout, 300_000);
      expect(value(s, 'Reactor.Temperature')).toBe(20);
      expect(unit(s, 'Reactor').values['Temperature'] as number).toBeGreaterThan(100);
      s = clearFault(s, layout, 'Reactor.Temperature').state;
      expect(value(s, 'Reactor.Temperature') as number).toBeGreaterThan(100);
    });

    it('adds noise and drift to a sensor', () => {
      let s = createPlantState(layout, { seed: 7 });
      s = injectFault(s, layout, { kind: 'noisySensor', target: 'Reactor.Temperature', value: 1 }).state;
      const readings = new Set<number>();
      for (let i = 0; i < 20; i++) {
        s = stepPlant(s, layout, 100);
        readings.add(measured(s, temperature) as number);
      }
      expect(readings.size).toBeGreaterThan(10);
      for (const r of readings) expect(Math.abs(r - 20)).toBeLessThanOrEqual(1);
      s = clearFault(s, layout, '*').state;
      s = injectFault(s, layout, { kind: 'drift', target: 'Reactor.Temperature', value: 2 }).state;
      s = stepPlant(s, layout, 120_000);
      expect(measured(s, temperature)).toBeCloseTo(24, 6);
    });

    it('sticks a valve', () => {
      let s = injectFault(createPlantState(layout), layout, { kind: 'stuckValve', target: 'TankA.InletValve' }).state;
      s = writeTag(s, layout, 'TankA.InletValve', true).state;
      s = stepPlant(s, layout, 10_000);
      expect(value(s, 'TankA.InletValve')).toBe(false);
      s = clearFault(s, layout, 'F1').state;
      expect(value(s, 'TankA.InletValve')).toBe(true);
    });

    it('makes a unit refuse or ignore commands', () => {
      let s = injectFault(createPlantState(layout), layout, { kind: 'refuseCommands', target: 'Filler' }).state;
      expect(applyCommand(s, layout, 'Filler', 'Start').outcome).toBe('refused');
      s = injectFault(s, layout, { kind: 'refuseCommands', target: 'Filler', value: 1 }).state;
      expect(s.faults).toHaveLength(1);
      expect(applyCommand(s, layout, 'Filler', 'Start')).toMatchObject({ outcome: 'ignored', state: s });
    });

    it('validates fault requests', () => {
      const s = createPlantState(layout);
      const bad: unknown = expect.objectContaining({ code: 'PLANT_FAULT_INVALID' });
      expect(() => injectFault(s, layout, { kind: 'stuckValve', target: 'Reactor.Temperature' })).toThrow(bad);
      expect(() => injectFault(s, layout, { kind: 'frozenSensor', target: 'TankA.InletValve' })).toThrow(bad);
      expect(() => injectFault(s, layout, { kind: 'meteor', target: 'TankA' })).toThrow(bad);
      expect(() => injectFault(s, layout, { kind: 'refuseCommands', target: 'TankA', value: 3 })).toThrow(bad);
      expect(() => clearFault(s, layout, 'F9')).toThrow(expect.objectContaining({ code: 'PLANT_FAULT_UNKNOWN' }));
    });
  });
});
