/**
 * The unit kinds the plant model knows: their tags (name, type, role, engineering unit, default
 * range) and their parameters with defaults. A layout file picks kinds, names units, links them and
 * overrides ranges, parameters and initial values; the physics of each kind is in `model/plant.ts`.
 */
import type { EngineeringUnit } from './units.js';

export const UNIT_KINDS = ['dosingTank', 'reactor', 'filler', 'conveyor', 'qualityStation'] as const;
export type UnitKind = (typeof UNIT_KINDS)[number];

export type TagDataType = 'Double' | 'Boolean' | 'UInt32';

/**
 * - `sensor`: a measurement (faults: frozenSensor, noisySensor, drift)
 * - `valve`: a valve position driven by the PLC or an operator (fault: stuckValve)
 * - `setpoint`: writable, range-checked
 * - `input`: writable manual input (a valve command, a switch)
 * - `actuator` / `status`: read-only state of the equipment
 * - `counter`: monotonic totals (units filled, litres discharged)
 */
export type TagRole = 'sensor' | 'valve' | 'setpoint' | 'input' | 'actuator' | 'status' | 'counter';

export interface TagDefinition {
  readonly dataType: TagDataType;
  readonly role: TagRole;
  readonly description: string;
  readonly unit?: EngineeringUnit;
  /** Default EURange; `capacity` means [0, parameters.capacityL]. */
  readonly range?: readonly [number, number] | 'capacity';
  readonly decimals?: number;
  readonly initial: number | boolean;
  /** An input that an operator may write (valves with role `valve` are writable when this is true). */
  readonly writable?: boolean;
}

type TagTable = Readonly<Record<string, TagDefinition>>;

const dosingTankTags = {
  Level: {
    dataType: 'Double',
    role: 'sensor',
    unit: '%',
    range: [0, 100],
    decimals: 2,
    initial: 0,
    description: 'Filling level of the tank.',
  },
  Volume: {
    dataType: 'Double',
    role: 'sensor',
    unit: 'L',
    range: 'capacity',
    decimals: 1,
    initial: 0,
    description: 'Liquid volume in the tank.',
  },
  InletValve: {
    dataType: 'Boolean',
    role: 'valve',
    writable: true,
    initial: false,
    description: 'Inlet (supply) valve; operator-controlled, forced closed by the high-level interlock.',
  },
  OutletValve: {
    dataType: 'Boolean',
    role: 'valve',
    initial: false,
    description: 'Outlet valve to the target unit; opened by the PLC while the unit doses (Execute).',
  },
  InletFlow: {
    dataType: 'Double',
    role: 'sensor',
    unit: 'L/min',
    range: [0, 500],
    decimals: 1,
    initial: 0,
    description: 'Flow through the inlet valve.',
  },
  OutletFlow: {
    dataType: 'Double',
    role: 'sensor',
    unit: 'L/min',
    range: [0, 500],
    decimals: 1,
    initial: 0,
    description: 'Flow through the outlet valve.',
  },
  DoseSetpoint: {
    dataType: 'Double',
    role: 'setpoint',
    unit: 'L',
    range: 'capacity',
    decimals: 1,
    initial: 100,
    description: 'Volume to dose into the target in one Execute.',
  },
  Dosed: {
    dataType: 'Double',
    role: 'status',
    unit: 'L',
    range: 'capacity',
    decimals: 1,
    initial: 0,
    description: 'Volume dosed in the current batch (reset by Start).',
  },
  Discharged: {
    dataType: 'Double',
    role: 'counter',
    unit: 'L',
    range: [0, 1e9],
    decimals: 1,
    initial: 0,
    description: 'Total volume discharged through the outlet (never reset).',
  },
} as const satisfies TagTable;

const reactorTags = {
  Level: {
    dataType: 'Double',
    role: 'sensor',
    unit: '%',
    range: [0, 100],
    decimals: 2,
    initial: 0,
    description: 'Filling level of the reactor.',
  },
  Volume: {
    dataType: 'Double',
    role: 'sensor',
    unit: 'L',
    range: 'capacity',
    decimals: 1,
    initial: 0,
    description: 'Liquid volume in the reactor.',
  },
  Temperature: {
    dataType: 'Double',
    role: 'sensor',
    unit: '°C',
    range: [0, 200],
    decimals: 2,
    initial: 20,
    description: 'Content temperature (first-order lag towards the heater or ambient temperature).',
  },
  TemperatureSetpoint: {
    dataType: 'Double',
    role: 'setpoint',
    unit: '°C',
    range: [20, 150],
    decimals: 1,
    initial: 80,
    description: 'Temperature the PLC heats to in Execute.',
  },
  HoldTimeSetpoint: {
    dataType: 'Double',
    role: 'setpoint',
    unit: 's',
    range: [0, 36000],
    decimals: 0,
    initial: 60,
    description: 'Time to hold the setpoint before the reaction is complete.',
  },
  HoldElapsed: {
    dataType: 'Double',
    role: 'status',
    unit: 's',
    range: [0, 36000],
    decimals: 0,
    initial: 0,
    description: 'Time held at the setpoint in the current batch.',
  },
  Heater: {
    dataType: 'Boolean',
    role: 'actuator',
    initial: false,
    description: 'Heater on; switched by the PLC (on/off with hysteresis), blocked by the low-level interlock.',
  },
  Agitator: {
    dataType: 'Boolean',
    role: 'actuator',
    initial: false,
    description: 'Agitator motor on (runs in Execute).',
  },
  AgitatorSpeed: {
    dataType: 'Double',
    role: 'sensor',
    unit: 'rpm',
    range: [0, 400],
    decimals: 0,
    initial: 0,
    description: 'Measured agitator speed (ramps).',
  },
  AgitatorSpeedSetpoint: {
    dataType: 'Double',
    role: 'setpoint',
    unit: 'rpm',
    range: [0, 300],
    decimals: 0,
    initial: 120,
    description: 'Agitator speed in Execute.',
  },
  Pressure: {
    dataType: 'Double',
    role: 'sensor',
    unit: 'bar',
    range: [0, 6],
    decimals: 3,
    initial: 1.013,
    description: 'Head-space pressure (rises with temperature and level).',
  },
  Discharged: {
    dataType: 'Double',
    role: 'counter',
    unit: 'L',
    range: [0, 1e9],
    decimals: 1,
    initial: 0,
    description: 'Total volume drawn by the filler (never reset).',
  },
} as const satisfies TagTable;

const fillerTags = {
  Count: {
    dataType: 'UInt32',
    role: 'counter',
    unit: '1',
    range: [0, 4294967295],
    initial: 0,
    description: 'Total units filled (never reset).',
  },
  BatchCount: {
    dataType: 'UInt32',
    role: 'status',
    unit: '1',
    range: [0, 4294967295],
    initial: 0,
    description: 'Units filled in the current batch (reset by Start).',
  },
  BatchSize: {
    dataType: 'UInt32',
    role: 'setpoint',
    unit: '1',
    range: [1, 100000],
    initial: 10,
    description: 'Units to fill in one Execute.',
  },
  Filling: { dataType: 'Boolean', role: 'status', initial: false, description: 'A unit is being filled.' },
  Starved: {
    dataType: 'Boolean',
    role: 'status',
    initial: false,
    description: 'Execute, but the source holds less than one unit volume.',
  },
  Blocked: { dataType: 'Boolean', role: 'status', initial: false, description: 'Execute, but the conveyor is full.' },
} as const satisfies TagTable;

const conveyorTags = {
  Running: { dataType: 'Boolean', role: 'actuator', initial: false, description: 'Belt motor on (runs in Execute).' },
  Speed: {
    dataType: 'Double',
    role: 'sensor',
    unit: 'm/min',
    range: [0, 100],
    decimals: 1,
    initial: 0,
    description: 'Measured belt speed.',
  },
  SpeedSetpoint: {
    dataType: 'Double',
    role: 'setpoint',
    unit: 'm/min',
    range: [1, 60],
    decimals: 1,
    initial: 30,
    description: 'Belt speed in Execute.',
  },
  UnitsOnBelt: {
    dataType: 'UInt32',
    role: 'status',
    unit: '1',
    range: [0, 100000],
    initial: 0,
    description: 'Units on the belt.',
  },
  Transported: {
    dataType: 'UInt32',
    role: 'counter',
    unit: '1',
    range: [0, 4294967295],
    initial: 0,
    description: 'Total units delivered to the next unit.',
  },
} as const satisfies TagTable;

const qualityStationTags = {
  DefectRate: {
    dataType: 'Double',
    role: 'setpoint',
    unit: '1',
    range: [0, 1],
    decimals: 3,
    initial: 0.02,
    description: 'Probability that a unit is defective (out-of-spec weight).',
  },
  Weight: {
    dataType: 'Double',
    role: 'sensor',
    unit: 'g',
    range: [0, 5000],
    decimals: 1,
    initial: 0,
    description: 'Weight of the last measured unit.',
  },
  Viscosity: {
    dataType: 'Double',
    role: 'sensor',
    unit: 'mPa·s',
    range: [0, 10000],
    decimals: 0,
    initial: 0,
    description: 'Viscosity of the last measured unit.',
  },
  LastPassed: {
    dataType: 'Boolean',
    role: 'status',
    initial: false,
    description: 'The last measured unit was within tolerance.',
  },
  Queue: {
    dataType: 'UInt32',
    role: 'status',
    unit: '1',
    range: [0, 100000],
    initial: 0,
    description: 'Units waiting to be measured.',
  },
  Measured: {
    dataType: 'UInt32',
    role: 'counter',
    unit: '1',
    range: [0, 4294967295],
    initial: 0,
    description: 'Total units measured.',
  },
  Passed: {
    dataType: 'UInt32',
    role: 'counter',
    unit: '1',
    range: [0, 4294967295],
    initial: 0,
    description: 'Total units within tolerance.',
  },
  Rejected: {
    dataType: 'UInt32',
    role: 'counter',
    unit: '1',
    range: [0, 4294967295],
    initial: 0,
    description: 'Total units rejected.',
  },
} as const satisfies TagTable;

export const KIND_TAGS = {
  dosingTank: dosingTankTags,
  reactor: reactorTags,
  filler: fillerTags,
  conveyor: conveyorTags,
  qualityStation: qualityStationTags,
} as const satisfies Record<UnitKind, TagTable>;

export type TagName<K extends UnitKind> = keyof (typeof KIND_TAGS)[K] & string;

/** Alarms each kind raises (Boolean nodes `<Unit>.Alarms.<Name>` plus an OffNormalAlarm condition). */
export const KIND_ALARMS = {
  dosingTank: {
    HighLevel: 'Tank full: the inlet valve is forced closed.',
    TargetFull: 'Target unit full: the outlet valve is forced closed.',
  },
  reactor: {
    HeaterInterlock: 'Level below the minimum: the heater is forced off.',
    HighTemperature: 'Temperature more than `highTemperatureMarginC` above the setpoint.',
  },
  filler: {},
  conveyor: {},
  qualityStation: {},
} as const satisfies Record<UnitKind, Readonly<Record<string, string>>>;

/** Parameters per kind, with defaults. Link parameters (`target`, `source`, `output`) name other units. */
export const KIND_PARAMETERS = {
  dosingTank: { capacityL: 1000, inletFlowLpm: 200, outletFlowLpm: 120, highLevelPct: 95 },
  reactor: {
    capacityL: 2000,
    ambientC: 20,
    heaterMaxC: 180,
    tauS: 300,
    hysteresisC: 0.5,
    lowLevelPct: 10,
    highLevelPct: 95,
    agitatorRampRpmPerS: 60,
    highTemperatureMarginC: 20,
  },
  filler: { unitVolumeL: 1, fillTimeS: 2 },
  conveyor: { lengthM: 5, capacityUnits: 200 },
  qualityStation: {
    nominalWeightG: 1000,
    weightToleranceG: 15,
    weightSigmaG: 3,
    nominalViscosityMPas: 1200,
    viscositySigmaMPas: 25,
    measureTimeS: 1,
  },
} as const satisfies Record<UnitKind, Readonly<Record<string, number>>>;

/** Which link each kind needs (`true` = required) and the kind it must point at. */
export const KIND_LINKS = {
  dosingTank: { target: { kind: 'reactor', required: true } },
  reactor: {},
  filler: { source: { kind: 'reactor', required: true }, output: { kind: 'conveyor', required: false } },
  conveyor: { output: { kind: 'qualityStation', required: false } },
  qualityStation: {},
} as const satisfies Record<UnitKind, Readonly<Record<string, { kind: UnitKind; required: boolean }>>>;
