/**
 * The imperative shell around the pure plant model: it owns the current state, advances it on a
 * simulated clock (real elapsed time × speed factor), applies operator inputs, and tells listeners
 * which published values changed — so the OPC UA layer sets a node only when the physics changed it.
 */
import type { Logger } from '@takt/edge-kit';
import { PlantError } from '../errors.js';
import type { ResolvedLayout } from '../layout/layout.js';
import type { Fault } from '../model/faults.js';
import type { PackmlCommand } from '../model/packml.js';
import { allowedCommands } from '../model/packml.js';
import {
  type CommandOutcome,
  type FaultRequest,
  MAX_STEP_MS,
  type PlantState,
  type TagValue,
  type WriteOutcome,
  applyCommand,
  clearFault,
  createPlantState,
  injectFault,
  reportedValues,
  stepPlant,
  writeTag,
} from '../model/plant.js';
import { type Clock, realClock } from './clock.js';

export type PublishedValue = TagValue | string;
export type ChangeListener = (changes: ReadonlyMap<string, PublishedValue>) => void;

export interface PlantRuntimeOptions {
  layout: ResolvedLayout;
  /** Simulated time per real time (1 for the demo, 50–500 for tests). Default 1. */
  speedFactor?: number;
  /** Real milliseconds between physics ticks. Default 100. */
  tickMs?: number;
  /** PRNG seed. Default 1. */
  seed?: number;
  clock?: Clock;
  logger?: Logger;
}

export const MIN_SPEED_FACTOR = 0.1;
export const MAX_SPEED_FACTOR = 1000;
/** A stalled event loop does not turn into a jump of more than this many ticks. */
const MAX_TICKS_PER_ADVANCE = 5;
const SIM_TIME_PATH = 'Simulation.SimTimeS';

/** Counters and states for tests and the diagnostics endpoint. */
export interface PlantSnapshot {
  layout: string;
  simTimeMs: number;
  speedFactor: number;
  emergencyStop: boolean;
  units: Record<string, { state: string; allowedCommands: string[]; values: Record<string, PublishedValue> }>;
  alarms: Record<string, boolean>;
  faults: Fault[];
}

export class PlantRuntime {
  readonly layout: ResolvedLayout;
  private current: PlantState;
  private speed: number;
  private readonly tickMs: number;
  private readonly clock: Clock;
  private readonly logger: Logger | undefined;
  private readonly listeners = new Set<ChangeListener>();
  private published = new Map<string, PublishedValue>();
  private lastTickAt: number;
  private stopTimer: (() => void) | undefined;

  constructor(options: PlantRuntimeOptions) {
    this.layout = options.layout;
    this.speed = checkSpeed(options.speedFactor ?? 1);
    this.tickMs = options.tickMs ?? 100;
    this.clock = options.clock ?? realClock;
    this.logger = options.logger;
    this.current = createPlantState(this.layout, { seed: options.seed ?? 1 });
    this.published = this.reported();
    this.lastTickAt = this.clock.now();
  }

  get state(): PlantState {
    return this.current;
  }

  get speedFactor(): number {
    return this.speed;
  }

  set speedFactor(value: number) {
    this.advance();
    this.speed = checkSpeed(value);
  }

  /** Starts the physics timer (idempotent). */
  start(): void {
    if (this.stopTimer) return;
    this.lastTickAt = this.clock.now();
    this.stopTimer = this.clock.setInterval(() => this.advance(), this.tickMs);
  }

  /** Stops the physics timer (idempotent). */
  close(): void {
    this.stopTimer?.();
    this.stopTimer = undefined;
  }

  /** Subscribes to published-value changes; returns the unsubscribe function. */
  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Everything published right now, by NodeId path. */
  values(): ReadonlyMap<string, PublishedValue> {
    return this.published;
  }

  /** Advances the simulated clock by the real time elapsed since the last tick × the speed factor. */
  advance(): void {
    const now = this.clock.now();
    const realMs = Math.min(now - this.lastTickAt, this.tickMs * MAX_TICKS_PER_ADVANCE);
    this.lastTickAt = now;
    if (realMs > 0) this.advanceSimulated(realMs * this.speed);
  }

  /** Advances the plant by `simMs` simulated milliseconds (tests may call this directly). */
  advanceSimulated(simMs: number): void {
    let remaining = simMs;
    // Steps are published one by one for PackML states, so a fast-forwarded Starting is still seen.
    for (let i = 0; i < 100_000 && remaining > 0; i++) {
      const dt = Math.min(remaining, MAX_STEP_MS);
      remaining -= dt;
      this.current = stepPlant(this.current, this.layout, dt);
      if (remaining > 0) this.publish((path) => path.endsWith('.State') || path.endsWith('.StateCurrent'));
    }
    this.publish();
  }

  command(unitId: string, command: PackmlCommand): CommandOutcome {
    this.advance();
    const { state, outcome } = applyCommand(this.current, this.layout, unitId, command);
    this.current = state;
    this.logger?.info('command', { unit: unitId, command, outcome, state: state.units[unitId]?.state });
    this.publish();
    return outcome;
  }

  write(path: string, value: TagValue): WriteOutcome {
    this.advance();
    const { state, outcome } = writeTag(this.current, this.layout, path, value);
    this.current = state;
    this.logger?.info('write', { path, value, outcome });
    this.publish();
    return outcome;
  }

  injectFault(request: FaultRequest): Fault {
    this.advance();
    const { state, fault } = injectFault(this.current, this.layout, request);
    this.current = state;
    this.logger?.warn('fault injected', { fault });
    this.publish();
    return fault;
  }

  clearFault(idOrTarget: string): Fault[] {
    this.advance();
    const { state, cleared } = clearFault(this.current, this.layout, idOrTarget);
    this.current = state;
    this.logger?.info('faults cleared', { ids: cleared.map((f) => f.id) });
    this.publish();
    return cleared;
  }

  /** Real delay a `slowMethod` fault puts on a method call of `unitId` (0 when none). */
  methodDelayMs(unitId: string): number {
    const fault = this.current.faults.find((f) => f.kind === 'slowMethod' && (f.target === unitId || f.target === '*'));
    return fault?.value ?? 0;
  }

  snapshot(): PlantSnapshot {
    const values = this.published;
    const units: PlantSnapshot['units'] = {};
    for (const unit of this.layout.units) {
      const unitState = this.current.units[unit.id];
      if (unitState === undefined) continue;
      const unitValues: Record<string, PublishedValue> = {};
      for (const tag of unit.tags) unitValues[tag.name] = values.get(tag.path) ?? tag.initial;
      units[unit.id] = {
        state: unitState.state,
        allowedCommands: allowedCommands(unitState.state),
        values: unitValues,
      };
    }
    const alarms: Record<string, boolean> = {};
    for (const [path, value] of values) if (path.includes('.Alarms.')) alarms[path] = value === true;
    return {
      layout: this.layout.name,
      simTimeMs: this.current.timeMs,
      speedFactor: this.speed,
      emergencyStop: this.current.emergencyStop,
      units,
      alarms,
      faults: structuredClone(this.current.faults),
    };
  }

  private reported(): Map<string, PublishedValue> {
    const values: Map<string, PublishedValue> = reportedValues(this.current, this.layout);
    values.set(SIM_TIME_PATH, Math.round(this.current.timeMs / 100) / 10);
    values.set('Simulation.ActiveFaults', JSON.stringify(this.current.faults.map(({ sample: _s, ...f }) => f)));
    values.set('Simulation.SpeedFactor', this.speed);
    return values;
  }

  private publish(filter?: (path: string) => boolean): void {
    const next = this.reported();
    const changes = new Map<string, PublishedValue>();
    for (const [path, value] of next) {
      if (filter !== undefined && !filter(path)) continue;
      if (this.published.get(path) !== value) {
        changes.set(path, value);
        this.published.set(path, value);
      }
    }
    if (changes.size === 0) return;
    for (const listener of this.listeners) {
      try {
        listener(changes);
      } catch (error) {
        this.logger?.error('change listener failed', { error });
      }
    }
  }
}

function checkSpeed(value: number): number {
  if (!Number.isFinite(value) || value < MIN_SPEED_FACTOR || value > MAX_SPEED_FACTOR) {
    throw new PlantError(
      'PLANT_CONFIG_INVALID',
      `speed factor ${value} is outside ${MIN_SPEED_FACTOR}..${MAX_SPEED_FACTOR}`,
      { details: { problems: [`speedFactor: ${MIN_SPEED_FACTOR}..${MAX_SPEED_FACTOR}`] } },
    );
  }
  return value;
}
