import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LAYOUT_FILE, findTag, loadLayout, parseLayout } from '../../src/layout/layout.js';

const minimal = {
  name: 'mini',
  units: [
    { id: 'R1', kind: 'reactor' },
    { id: 'T1', kind: 'dosingTank', links: { target: 'R1' } },
  ],
};

function problemsOf(doc: unknown): string[] {
  try {
    parseLayout(doc);
  } catch (error) {
    const coded = error as { code?: string; details?: { problems?: string[] } };
    expect(coded.code).toBe('PLANT_LAYOUT_INVALID');
    return coded.details?.problems ?? [];
  }
  throw new Error('expected PLANT_LAYOUT_INVALID');
}

describe('plant layout', () => {
  it('loads the shipped layout with ranges, units and links', async () => {
    const layout = await loadLayout(DEFAULT_LAYOUT_FILE);
    expect(layout.units.map((u) => u.id)).toEqual(['TankA', 'TankB', 'Reactor', 'Filler', 'Conveyor', 'Quality']);
    const temperature = findTag(layout, 'Reactor.Temperature');
    expect(temperature).toMatchObject({ unit: '°C', range: [0, 200], role: 'sensor', writable: false });
    expect(findTag(layout, 'Reactor.TemperatureSetpoint')).toMatchObject({ writable: true, range: [20, 150] });
    expect(findTag(layout, 'TankA.Volume')?.range).toEqual([0, 1000]);
    expect(findTag(layout, 'TankA.InletValve')?.writable).toBe(true);
    expect(findTag(layout, 'TankA.OutletValve')?.writable).toBe(false);
    expect(Object.isFrozen(layout.units[0])).toBe(true);
    expect(JSON.parse(await readFile(DEFAULT_LAYOUT_FILE, 'utf8'))).toHaveProperty('name', 'batch-plant');
  });

  it('defaults parameters, ranges and initial values', () => {
    const layout = parseLayout(minimal);
    expect(layout.actingTimeS).toBe(2);
    expect(layout.units[0]?.parameters['tauS']).toBe(300);
    expect(findTag(layout, 'T1.Volume')?.range).toEqual([0, 1000]);
    expect(layout.units[0]?.alarms.map((a) => a.path)).toEqual([
      'R1.Alarms.HeaterInterlock',
      'R1.Alarms.HighTemperature',
    ]);
  });

  it('lists every problem with its path', () => {
    const problems = problemsOf({
      name: 'bad',
      units: [
        { id: 'T1', kind: 'dosingTank', links: { target: 'Nope' }, parameters: { capacityL: -1, colour: 3 } },
        { id: 'T1', kind: 'boiler' },
        { id: 'R1', kind: 'reactor', tags: { Temperature: { range: [10, 5] } }, initial: { Volume: 99999 } },
      ],
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringContaining('duplicate id'),
        expect.stringContaining('$.units[0].parameters.capacityL'),
        expect.stringContaining('$.units[0].parameters.colour'),
        expect.stringContaining('$.units[0].links.target'),
        expect.stringContaining('$.units[1].kind'),
        expect.stringContaining('$.units[2].tags.Temperature.range'),
        expect.stringContaining('$.units[2].initial.Volume'),
      ]),
    );
  });

  it('refuses reserved ids, missing links and a missing name', () => {
    expect(problemsOf({ units: [{ id: 'Plant', kind: 'reactor' }] })).toEqual(
      expect.arrayContaining([expect.stringContaining('$.name'), expect.stringContaining('$.units[0].id')]),
    );
    expect(problemsOf({ name: 'x', units: [{ id: 'F', kind: 'filler' }] })).toEqual([
      expect.stringContaining('links.source'),
    ]);
    expect(problemsOf('[]')).toEqual(['$: must be an object']);
  });

  it('reports an unreadable file with the layout code', async () => {
    await expect(loadLayout('/nonexistent/layout.json')).rejects.toMatchObject({ code: 'PLANT_LAYOUT_INVALID' });
  });
});
