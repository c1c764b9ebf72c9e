import { describe, expect, it } from 'vitest';
import { parseLayout } from '../../src/layout/layout.js';
import type { Clock } from '../../src/runtime/clock.js';
import { PlantRuntime, type PublishedValue } from '../../src/runtime/plant-runtime.js';

const layout = parseLayout({
  name: 'rt',
  actingTimeS: 1,
  units: [
    { id: 'R', kind: 'reactor', initial: { Volume: 500, TemperatureSetpoint: 40 } },
    { id: 'T', kind: 'dosingTank', links: { target: 'R' }, initial: { Volume: 500, DoseSetpoint: 10 } },
  ],
});

function fakeClock(): Clock & { tick(ms: number): void } {
  let now = 0;
  let callback: (() => void) | undefined;
  return {
    now: () => now,
    setInterval(cb) {
      callback = cb;
      return () => {
        callback = undefined;
      };
    },
    tick(ms) {
      now += ms;
      callback?.();
    },
  };
}

describe('PlantRuntime', () => {
  it('advances simulated time by real time × speed factor and publishes only changes', () => {
    const clock = fakeClock();
    const runtime = new PlantRuntime({ layout, speedFactor: 10, tickMs: 100, clock });
    const changes: Map<string, PublishedValue>[] = [];
    runtime.onChange((c) => changes.push(new Map(c)));
    runtime.start();
    clock.tick(100);
    expect(runtime.state.timeMs).toBe(1000);
    expect(changes.map((c) => [...c.keys()])).toEqual([['Simulation.SimTimeS']]);
    runtime.close();
    clock.tick(100);
    expect(runtime.state.timeMs).toBe(1000);
  });

  it('publishes every PackML state even when one tick spans several of them', () => {
    const clock = fakeClock();
    const runtime = new PlantRuntime({ layout, speedFactor: 500, tickMs: 100, clock });
    const states: PublishedValue[] = [];
    runtime.onChange((c) => {
      const s = c.get('T.State');
      if (s !== undefined) states.push(s);
    });
    runtime.start();
    expect(runtime.command('T', 'Start')).toBe('accepted');
    for (let i = 0; i < 10; i++) clock.tick(100);
    expect(states).toEqual(['Starting', 'Execute', 'Completing', 'Complete']);
    expect(runtime.values().get('T.Dosed')).toBe(10);
  });

  it('caps a stalled event loop to a few ticks and validates the speed factor', () => {
    const clock = fakeClock();
    const runtime = new PlantRuntime({ layout, speedFactor: 1, tickMs: 100, clock });
    runtime.start();
    clock.tick(60_000);
    expect(runtime.state.timeMs).toBe(500);
    expect(() => {
      runtime.speedFactor = 0;
    }).toThrow(expect.objectContaining({ code: 'PLANT_CONFIG_INVALID' }) as Error);
    runtime.speedFactor = 100;
    expect(runtime.values().get('Simulation.SpeedFactor')).toBe(1);
  });

  it('reports slow-method delays and a snapshot with faults', () => {
    const runtime = new PlantRuntime({ layout, clock: fakeClock() });
    expect(runtime.methodDelayMs('R')).toBe(0);
    runtime.injectFault({ kind: 'slowMethod', target: '*', value: 250 });
    expect(runtime.methodDelayMs('R')).toBe(250);
    const snapshot = runtime.snapshot();
    expect(snapshot.faults).toEqual([expect.objectContaining({ kind: 'slowMethod', target: '*', value: 250 })]);
    expect(snapshot.units['R']).toMatchObject({ state: 'Idle', allowedCommands: ['Start', 'Stop', 'Abort'] });
    expect(runtime.clearFault('*')).toHaveLength(1);
  });
});
