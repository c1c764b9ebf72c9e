/**
 * The plant model and its "PLC": a pure function of (state, layout, dt) with no clock, no I/O and no
 * `Math.random` (a seeded PRNG lives in the state). The physics works on the true values; the PLC
 * logic (interlocks, hysteresis, completion) reads the *measured* values, so a frozen or drifting
 * sensor fools the PLC exactly as it would in a plant.
 *
 * @example
 *   let state = createPlantState(layout, { seed: 1 });
 *   ({ state } = applyCommand(state, layout, 'Reactor', 'Start'));
 *   state = stepPlant(state, layout, 60_000); // one simulated minute
 */
import { PlantError } from '../errors.js';
import { type ResolvedLayout, type ResolvedTag, type ResolvedUnit, findTag, findUnit } from '../layout/layout.js';
import { type Fault, isModelFaultKind } from './faults.js';
import { ACTING_STATES, PACKML_STATES, type PackmlCommand, type PackmlState, nextStateForCommand } from './packml.js';
import { gaussian, nextRandom } from './random.js';

export type TagValue = number | boolean;

export interface UnitState {
  readonly id: string;
  state: PackmlState;
  stateSinceMs: number;
  /** True (physical) values of the unit's tags, by tag name. */
  values: Record<string, TagValue>;
  /** Operator commands for writable valves (the PLC decides the actual position). */
  commanded: Record<string, boolean>;
  alarms: Record<string, boolean>;
  /** Filler: fill progress; quality station: measuring progress (simulated ms). */
  progressMs: number;
  /** Reactor: the setpoint was reached in this batch (hold time runs). */
  reached: boolean;
  /** Conveyor: positions (m) of the units on the belt. */
  belt: number[];
  /** Quality station: units waiting to be measured. */
  queue: number;
}

export interface PlantState {
  timeMs: number;
  seed: number;
  emergencyStop: boolean;
  units: Record<string, UnitState>;
  faults: Fault[];
  nextFaultSeq: number;
}

export interface CreatePlantStateOptions {
  /** PRNG seed (default 1). */
  seed?: number;
}

/** Longest simulated step the physics integrates in one go; longer steps are split. */
export const MAX_STEP_MS = 500;
/** Bounds the substeps of one `stepPlant` call (≈ 83 simulated minutes). */
const MAX_SUBSTEPS = 10_000;

export function createPlantState(layout: ResolvedLayout, options: CreatePlantStateOptions = {}): PlantState {
  const units: Record<string, UnitState> = {};
  for (const unit of layout.units) {
    const values: Record<string, TagValue> = {};
    const commanded: Record<string, boolean> = {};
    for (const tag of unit.tags) {
      values[tag.name] = tag.initial;
      if (tag.role === 'valve' && tag.writable) commanded[tag.name] = tag.initial === true;
    }
    const alarms: Record<string, boolean> = {};
    for (const alarm of unit.alarms) alarms[alarm.name] = false;
    units[unit.id] = {
      id: unit.id,
      state: layout.initialState,
      stateSinceMs: 0,
      values,
      commanded,
      alarms,
      progressMs: 0,
      reached: false,
      belt: [],
      queue: 0,
    };
  }
  const state: PlantState = {
    timeMs: 0,
    seed: options.seed ?? 1,
    emergencyStop: false,
    units,
    faults: [],
    nextFaultSeq: 1,
  };
  for (const unit of layout.units) updateDerived(state, unit);
  control(state, layout);
  return state;
}

// ---------------------------------------------------------------------------------------------------
// time

/** Advances the plant by `dtMs` simulated milliseconds. Returns a new state; `state` is not changed. */
export function stepPlant(state: PlantState, layout: ResolvedLayout, dtMs: number): PlantState {
  const next = structuredClone(state);
  let remaining = Math.max(0, dtMs);
  for (let i = 0; i < MAX_SUBSTEPS && remaining > 0; i++) {
    const dt = Math.min(remaining, MAX_STEP_MS);
    remaining -= dt;
    substep(next, layout, dt);
  }
  return next;
}

function substep(s: PlantState, layout: ResolvedLayout, dtMs: number): void {
  s.timeMs += dtMs;
  for (const fault of s.faults) if (fault.kind === 'noisySensor') fault.sample = random(s) * 2 - 1;
  advanceActingStates(s, layout);
  control(s, layout);
  physics(s, layout, dtMs);
  for (const unit of layout.units) updateDerived(s, unit);
  completion(s, layout);
  control(s, layout);
}

function advanceActingStates(s: PlantState, layout: ResolvedLayout): void {
  const actingMs = layout.actingTimeS * 1000;
  for (const unit of Object.values(s.units)) {
    const next = ACTING_STATES[unit.state];
    if (next !== undefined && s.timeMs - unit.stateSinceMs >= actingMs) enter(s, unit, next);
  }
}

function enter(s: PlantState, unit: UnitState, next: PackmlState): void {
  unit.state = next;
  unit.stateSinceMs = s.timeMs;
}

function random(s: PlantState): number {
  const [value, seed] = nextRandom(s.seed);
  s.seed = seed;
  return value;
}

// ---------------------------------------------------------------------------------------------------
// PLC logic: actuators from states, interlocks and measured values

function control(s: PlantState, layout: ResolvedLayout): void {
  for (const unit of layout.units) {
    const u = unitOf(s, unit.id);
    const execute = u.state === 'Execute' && !s.emergencyStop;
    switch (unit.kind) {
      case 'dosingTank': {
        const high = measuredNumber(s, unit, 'Level') >= param(unit, 'highLevelPct');
        const target = findUnit(layout, unit.links['target'] ?? '');
        const targetFull = target !== undefined && measuredNumber(s, target, 'Level') >= param(target, 'highLevelPct');
        u.alarms['HighLevel'] = high;
        u.alarms['TargetFull'] = targetFull && execute;
        setValve(s, unit, 'InletValve', (u.commanded['InletValve'] ?? false) && !high && !s.emergencyStop);
        setValve(s, unit, 'OutletValve', execute && !targetFull);
        break;
      }
      case 'reactor': {
        const low = measuredNumber(s, unit, 'Level') < param(unit, 'lowLevelPct');
        const temperature = measuredNumber(s, unit, 'Temperature');
        const setpoint = num(u, 'TemperatureSetpoint');
        const hysteresis = param(unit, 'hysteresisC');
        let heater = u.values['Heater'] === true;
        if (temperature < setpoint - hysteresis) heater = true;
        else if (temperature > setpoint + hysteresis) heater = false;
        u.alarms['HeaterInterlock'] = low && execute;
        u.alarms['HighTemperature'] = temperature > setpoint + param(unit, 'highTemperatureMarginC');
        u.values['Heater'] = execute && heater && !low;
        u.values['Agitator'] = execute;
        break;
      }
      case 'filler':
        break;
      case 'conveyor':
        u.values['Running'] = execute;
        break;
      case 'qualityStation':
        break;
    }
  }
}

function setValve(s: PlantState, unit: ResolvedUnit, name: string, open: boolean): void {
  const stuck = s.faults.find((f) => f.kind === 'stuckValve' && f.target === `${unit.id}.${name}`);
  unitOf(s, unit.id).values[name] = stuck === undefined ? open : stuck.held === true;
}

// ---------------------------------------------------------------------------------------------------
// physics on true values

function physics(s: PlantState, layout: ResolvedLayout, dtMs: number): void {
  const dtMin = dtMs / 60_000;
  const dtS = dtMs / 1000;
  for (const unit of layout.units) {
    const u = unitOf(s, unit.id);
    const execute = u.state === 'Execute' && !s.emergencyStop;
    switch (unit.kind) {
      case 'dosingTank': {
        const capacity = param(unit, 'capacityL');
        let volume = num(u, 'Volume');
        const inFlow = u.values['InletValve'] === true ? param(unit, 'inletFlowLpm') : 0;
        volume = Math.min(capacity, volume + inFlow * dtMin);
        let out = 0;
        if (u.values['OutletValve'] === true && volume > 0)
          out = Math.min(param(unit, 'outletFlowLpm') * dtMin, volume);
        // the PLC closes the outlet the moment the dose is complete (no overshoot at coarse steps)
        if (u.state === 'Execute') out = Math.min(out, Math.max(0, num(u, 'DoseSetpoint') - num(u, 'Dosed')));
        volume -= out;
        u.values['Volume'] = volume;
        u.values['InletFlow'] = inFlow;
        u.values['OutletFlow'] = dtMin > 0 ? out / dtMin : 0;
        u.values['Discharged'] = num(u, 'Discharged') + out;
        if (u.state === 'Execute') u.values['Dosed'] = num(u, 'Dosed') + out;
        const target = findUnit(layout, unit.links['target'] ?? '');
        if (target !== undefined) {
          const t = unitOf(s, target.id);
          t.values['Volume'] = Math.min(param(target, 'capacityL'), num(t, 'Volume') + out);
        }
        break;
      }
      case 'reactor': {
        const ambient = param(unit, 'ambientC');
        const toward = u.values['Heater'] === true ? param(unit, 'heaterMaxC') : ambient;
        const temperature = num(u, 'Temperature');
        // first-order lag, integrated exactly so any step length is stable
        u.values['Temperature'] = toward + (temperature - toward) * Math.exp(-dtS / param(unit, 'tauS'));
        const speedTarget = u.values['Agitator'] === true ? num(u, 'AgitatorSpeedSetpoint') : 0;
        const speed = num(u, 'AgitatorSpeed');
        const ramp = param(unit, 'agitatorRampRpmPerS') * dtS;
        u.values['AgitatorSpeed'] =
          speed < speedTarget ? Math.min(speedTarget, speed + ramp) : Math.max(speedTarget, speed - ramp);
        if (execute) {
          const setpoint = num(u, 'TemperatureSetpoint');
          if (!u.reached && measuredNumber(s, unit, 'Temperature') >= setpoint - param(unit, 'hysteresisC')) {
            u.reached = true;
          }
          if (u.reached) u.values['HoldElapsed'] = num(u, 'HoldElapsed') + dtS;
        }
        break;
      }
      case 'filler': {
        const source = findUnit(layout, unit.links['source'] ?? '');
        const output = findUnit(layout, unit.links['output'] ?? '');
        const unitVolume = param(unit, 'unitVolumeL');
        const fillMs = Math.max(1, param(unit, 'fillTimeS') * 1000);
        const sourceState = source === undefined ? undefined : unitOf(s, source.id);
        const belt = output === undefined ? undefined : unitOf(s, output.id);
        const beltCapacity = output === undefined ? Infinity : param(output, 'capacityUnits');
        const starved = sourceState === undefined || num(sourceState, 'Volume') < unitVolume;
        const blocked = belt !== undefined && belt.belt.length >= beltCapacity;
        u.values['Starved'] = execute && starved;
        u.values['Blocked'] = execute && blocked;
        const filling = execute && !starved && !blocked && num(u, 'BatchCount') < num(u, 'BatchSize');
        u.values['Filling'] = filling;
        if (!filling || sourceState === undefined) break;
        u.progressMs += dtMs;
        for (let i = 0; i < 1000 && u.progressMs >= fillMs; i++) {
          if (num(sourceState, 'Volume') < unitVolume || num(u, 'BatchCount') >= num(u, 'BatchSize')) break;
          if (belt !== undefined && belt.belt.length >= beltCapacity) break;
          u.progressMs -= fillMs;
          sourceState.values['Volume'] = num(sourceState, 'Volume') - unitVolume;
          sourceState.values['Discharged'] = num(sourceState, 'Discharged') + unitVolume;
          u.values['Count'] = num(u, 'Count') + 1;
          u.values['BatchCount'] = num(u, 'BatchCount') + 1;
          belt?.belt.push(0);
        }
        break;
      }
      case 'conveyor': {
        const running = u.values['Running'] === true;
        const speed = running ? num(u, 'SpeedSetpoint') : 0;
        u.values['Speed'] = speed;
        if (speed <= 0) break;
        const length = param(unit, 'lengthM');
        const moved = u.belt.map((position) => position + speed * dtMin);
        const delivered = moved.filter((position) => position >= length).length;
        u.belt = moved.filter((position) => position < length);
        if (delivered > 0) {
          u.values['Transported'] = num(u, 'Transported') + delivered;
          const output = findUnit(layout, unit.links['output'] ?? '');
          if (output !== undefined) unitOf(s, output.id).queue += delivered;
        }
        break;
      }
      case 'qualityStation': {
        if (!execute || u.queue === 0) {
          u.progressMs = 0;
          break;
        }
        const measureMs = Math.max(1, param(unit, 'measureTimeS') * 1000);
        u.progressMs += dtMs;
        for (let i = 0; i < 1000 && u.progressMs >= measureMs && u.queue > 0; i++) {
          u.progressMs -= measureMs;
          u.queue -= 1;
          measureOne(s, unit, u);
        }
        break;
      }
    }
  }
}

function measureOne(s: PlantState, unit: ResolvedUnit, u: UnitState): void {
  const nominal = param(unit, 'nominalWeightG');
  const tolerance = param(unit, 'weightToleranceG');
  const defective = random(s) < num(u, 'DefectRate');
  let weight: number;
  if (defective) {
    const sign = random(s) < 0.5 ? -1 : 1;
    weight = nominal + sign * (tolerance + 5 + random(s) * 20);
  } else {
    const deviation = gaussian(random(s), random(s)) * param(unit, 'weightSigmaG');
    weight = nominal + Math.max(-0.9 * tolerance, Math.min(0.9 * tolerance, deviation));
  }
  const viscosity =
    param(unit, 'nominalViscosityMPas') + gaussian(random(s), random(s)) * param(unit, 'viscositySigmaMPas');
  const passed = Math.abs(weight - nominal) <= tolerance;
  u.values['Weight'] = weight;
  u.values['Viscosity'] = Math.max(0, viscosity);
  u.values['LastPassed'] = passed;
  u.values['Measured'] = num(u, 'Measured') + 1;
  if (passed) u.values['Passed'] = num(u, 'Passed') + 1;
  else u.values['Rejected'] = num(u, 'Rejected') + 1;
}

/** Values that follow from others (levels from volumes, pressure, belt and queue counts). */
function updateDerived(s: PlantState, unit: ResolvedUnit): void {
  const u = unitOf(s, unit.id);
  switch (unit.kind) {
    case 'dosingTank':
    case 'reactor': {
      const capacity = param(unit, 'capacityL');
      u.values['Level'] = capacity > 0 ? (num(u, 'Volume') / capacity) * 100 : 0;
      if (unit.kind === 'reactor') {
        const ambientK = param(unit, 'ambientC') + 273.15;
        u.values['Pressure'] = (1.013 * (num(u, 'Temperature') + 273.15)) / ambientK + 0.3 * (num(u, 'Level') / 100);
      }
      break;
    }
    case 'conveyor':
      u.values['UnitsOnBelt'] = u.belt.length;
      break;
    case 'qualityStation':
      u.values['Queue'] = u.queue;
      break;
    case 'filler':
      break;
  }
}

/** Execute ends by itself when the unit's work is done (PackML SC from Execute → Completing). */
function completion(s: PlantState, layout: ResolvedLayout): void {
  if (s.emergencyStop) return;
  for (const unit of layout.units) {
    const u = unitOf(s, unit.id);
    if (u.state !== 'Execute') continue;
    switch (unit.kind) {
      case 'dosingTank':
        if (num(u, 'Dosed') >= num(u, 'DoseSetpoint') - 1e-9) enter(s, u, 'Completing');
        // starved: the tank ran dry before the dose was complete (external condition → Suspending)
        else if (num(u, 'Volume') <= 1e-9) enter(s, u, 'Suspending');
        break;
      case 'reactor':
        if (u.reached && num(u, 'HoldElapsed') >= num(u, 'HoldTimeSetpoint')) enter(s, u, 'Completing');
        break;
      case 'filler':
        if (num(u, 'BatchCount') >= num(u, 'BatchSize')) enter(s, u, 'Completing');
        break;
      case 'conveyor':
      case 'qualityStation':
        break;
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// operator inputs

export type CommandOutcome = 'accepted' | 'invalidState' | 'refused' | 'ignored' | 'interlock';

/** Applies a PackML command. Throws `PLANT_UNIT_UNKNOWN` for an unknown unit. */
export function applyCommand(
  state: PlantState,
  layout: ResolvedLayout,
  unitId: string,
  command: PackmlCommand,
): { state: PlantState; outcome: CommandOutcome } {
  if (findUnit(layout, unitId) === undefined) {
    throw new PlantError('PLANT_UNIT_UNKNOWN', `no unit "${unitId}" in layout ${layout.name}`, { details: { unitId } });
  }
  const refusal = state.faults.find((f) => f.kind === 'refuseCommands' && f.target === unitId);
  if (refusal !== undefined) return { state, outcome: refusal.value === 1 ? 'ignored' : 'refused' };
  const current = unitOf(state, unitId).state;
  const next = nextStateForCommand(current, command);
  if (next === undefined) return { state, outcome: 'invalidState' };
  if (state.emergencyStop && command !== 'Abort' && command !== 'Stop') return { state, outcome: 'interlock' };
  const s = structuredClone(state);
  const u = unitOf(s, unitId);
  enter(s, u, next);
  if (command === 'Start') resetBatch(u);
  control(s, layout);
  return { state: s, outcome: 'accepted' };
}

function resetBatch(u: UnitState): void {
  if ('Dosed' in u.values) u.values['Dosed'] = 0;
  if ('BatchCount' in u.values) u.values['BatchCount'] = 0;
  if ('HoldElapsed' in u.values) u.values['HoldElapsed'] = 0;
  u.reached = false;
  u.progressMs = 0;
}

/** Presses (`true`) or releases the emergency stop: every unit not already aborting goes to Aborting. */
export function setEmergencyStop(state: PlantState, layout: ResolvedLayout, pressed: boolean): PlantState {
  const s = structuredClone(state);
  s.emergencyStop = pressed;
  if (pressed) {
    for (const u of Object.values(s.units))
      if (u.state !== 'Aborting' && u.state !== 'Aborted') enter(s, u, 'Aborting');
  }
  control(s, layout);
  return s;
}

export type WriteOutcome = 'accepted' | 'notWritable' | 'outOfRange' | 'typeMismatch';

/** The tag path of the emergency-stop input. */
export const EMERGENCY_STOP_PATH = 'Plant.EmergencyStop';

/** An operator write to a setpoint or input. Throws `PLANT_TAG_UNKNOWN` for an unknown path. */
export function writeTag(
  state: PlantState,
  layout: ResolvedLayout,
  path: string,
  value: TagValue,
): { state: PlantState; outcome: WriteOutcome } {
  if (path === EMERGENCY_STOP_PATH) {
    if (typeof value !== 'boolean') return { state, outcome: 'typeMismatch' };
    return { state: setEmergencyStop(state, layout, value), outcome: 'accepted' };
  }
  const tag = findTag(layout, path);
  if (tag === undefined) {
    throw new PlantError('PLANT_TAG_UNKNOWN', `no tag "${path}" in layout ${layout.name}`, { details: { path } });
  }
  if (!tag.writable) return { state, outcome: 'notWritable' };
  if ((tag.dataType === 'Boolean') !== (typeof value === 'boolean')) return { state, outcome: 'typeMismatch' };
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return { state, outcome: 'outOfRange' };
    if (tag.range !== undefined && (value < tag.range[0] || value > tag.range[1]))
      return { state, outcome: 'outOfRange' };
    if (tag.dataType === 'UInt32' && !Number.isInteger(value)) return { state, outcome: 'typeMismatch' };
  }
  const s = structuredClone(state);
  const u = unitOf(s, tag.unitId);
  if (tag.role === 'valve') u.commanded[tag.name] = value === true;
  else u.values[tag.name] = value;
  control(s, layout);
  return { state: s, outcome: 'accepted' };
}

// ---------------------------------------------------------------------------------------------------
// faults

export interface FaultRequest {
  kind: string;
  target: string;
  /** See {@link Fault.value}; 0 picks the kind's default. */
  value?: number;
}

/** Injects a model fault (replacing one of the same kind on the same target). Throws `PLANT_FAULT_INVALID`. */
export function injectFault(
  state: PlantState,
  layout: ResolvedLayout,
  request: FaultRequest,
): { state: PlantState; fault: Fault } {
  const { kind, target } = request;
  const value = request.value ?? 0;
  const bad = (why: string): PlantError =>
    new PlantError('PLANT_FAULT_INVALID', `cannot inject ${kind} on "${target}": ${why}`, {
      details: { kind, target, value },
    });
  if (!isModelFaultKind(kind)) throw bad('unknown fault kind');
  if (!Number.isFinite(value)) throw bad('value must be a finite number');
  const s = structuredClone(state);
  let held: number | boolean | undefined;
  let resolved = value;
  const needTag = (role: ResolvedTag['role']): ResolvedTag => {
    const tag = findTag(layout, target);
    if (tag === undefined || tag.role !== role) throw bad(`target must be a ${role} tag (Unit.Tag)`);
    return tag;
  };
  const span = (tag: ResolvedTag): number => (tag.range === undefined ? 1 : tag.range[1] - tag.range[0]);
  switch (kind) {
    case 'stuckValve': {
      const tag = needTag('valve');
      const current = unitOf(s, tag.unitId).values[tag.name] === true;
      held = value === 0 ? false : value === 1 ? true : current;
      break;
    }
    case 'frozenSensor': {
      const tag = needTag('sensor');
      held = measured(s, tag);
      break;
    }
    case 'noisySensor': {
      const tag = needTag('sensor');
      if (value < 0) throw bad('amplitude must be >= 0');
      resolved = value === 0 ? span(tag) * 0.02 : value;
      break;
    }
    case 'drift': {
      const tag = needTag('sensor');
      resolved = value === 0 ? span(tag) * 0.01 : value;
      break;
    }
    case 'refuseCommands':
      if (findUnit(layout, target) === undefined) throw bad('target must be a unit id');
      if (value !== 0 && value !== 1) throw bad('value must be 0 (reject) or 1 (ignore)');
      break;
    case 'slowMethod':
      if (target !== '*' && findUnit(layout, target) === undefined) throw bad('target must be a unit id or *');
      if (value < 0 || value > 60_000) throw bad('delay must be 0..60000 ms');
      resolved = value === 0 ? 2000 : value;
      break;
  }
  s.faults = s.faults.filter((f) => !(f.kind === kind && f.target === target));
  const fault: Fault = {
    id: `F${s.nextFaultSeq}`,
    kind,
    target,
    value: resolved,
    sinceMs: s.timeMs,
    ...(held === undefined ? {} : { held }),
    sample: 0,
  };
  s.nextFaultSeq += 1;
  s.faults.push(fault);
  control(s, layout);
  return { state: s, fault };
}

/**
 * Clears faults by id, by target, or all of them (`*`). Throws `PLANT_FAULT_UNKNOWN` when nothing matched.
 */
export function clearFault(
  state: PlantState,
  layout: ResolvedLayout,
  idOrTarget: string,
): { state: PlantState; cleared: Fault[] } {
  const match = (f: Fault): boolean => idOrTarget === '*' || f.id === idOrTarget || f.target === idOrTarget;
  const cleared = state.faults.filter(match);
  if (cleared.length === 0 && idOrTarget !== '*') {
    throw new PlantError('PLANT_FAULT_UNKNOWN', `no active fault matches "${idOrTarget}"`, {
      details: { idOrTarget },
    });
  }
  const s = structuredClone(state);
  s.faults = s.faults.filter((f) => !match(f));
  control(s, layout);
  return { state: s, cleared };
}

// ---------------------------------------------------------------------------------------------------
// reading

/** The value a tag reports (true value with sensor faults applied, not rounded). */
export function measured(state: PlantState, tag: ResolvedTag): TagValue {
  const truth = unitOf(state, tag.unitId).values[tag.name] ?? tag.initial;
  if (tag.role !== 'sensor' || typeof truth !== 'number') return truth;
  let value = truth;
  for (const fault of state.faults) {
    if (fault.target !== tag.path) continue;
    if (fault.kind === 'frozenSensor' && typeof fault.held === 'number') return fault.held;
    if (fault.kind === 'drift') value += (fault.value * (state.timeMs - fault.sinceMs)) / 60_000;
    if (fault.kind === 'noisySensor') value += fault.sample * fault.value;
  }
  return value;
}

/** Every value the plant publishes, by NodeId path, rounded to each tag's decimals. */
export function reportedValues(state: PlantState, layout: ResolvedLayout): Map<string, TagValue | string> {
  const out = new Map<string, TagValue | string>();
  out.set(EMERGENCY_STOP_PATH, state.emergencyStop);
  out.set('Plant.Alarms.EmergencyStop', state.emergencyStop);
  for (const unit of layout.units) {
    const u = unitOf(state, unit.id);
    out.set(`${unit.id}.State`, u.state);
    out.set(`${unit.id}.StateCurrent`, PACKML_STATES[u.state]);
    for (const tag of unit.tags) out.set(tag.path, round(measured(state, tag), tag));
    for (const alarm of unit.alarms) out.set(alarm.path, u.alarms[alarm.name] === true);
  }
  return out;
}

function round(value: TagValue, tag: ResolvedTag): TagValue {
  if (typeof value !== 'number') return value;
  if (tag.dataType === 'UInt32') return Math.max(0, Math.min(4294967295, Math.round(value)));
  const factor = 10 ** tag.decimals;
  return Math.round(value * factor) / factor;
}

// ---------------------------------------------------------------------------------------------------
// helpers

function unitOf(s: PlantState, id: string): UnitState {
  const unit = s.units[id];
  if (unit === undefined) throw new PlantError('PLANT_UNIT_UNKNOWN', `no unit "${id}" in the plant state`);
  return unit;
}

function num(u: UnitState, name: string): number {
  const value = u.values[name];
  return typeof value === 'number' ? value : 0;
}

function param(unit: ResolvedUnit, name: string): number {
  return unit.parameters[name] ?? 0;
}

function measuredNumber(s: PlantState, unit: ResolvedUnit, name: string): number {
  const tag = unit.tags.find((t) => t.name === name);
  if (tag === undefined) return 0;
  const value = measured(s, tag);
  return typeof value === 'number' ? value : 0;
}
