/**
 * Trigger helpers the orchestrator and the designer share: cron parsing (croner) with the missed-run
 * policy, and the tag-trigger filter (debounce + deadband, edge-triggered). Pure: time is passed in.
 */
import { Cron } from 'croner';
import type { Json, ScheduleTrigger } from './types.js';

/** Parses a cron pattern; returns the error text when it is invalid. */
export function checkCron(pattern: string, timezone?: string): string | undefined {
  try {
    const job = new Cron(pattern, timezone === undefined ? { paused: true } : { paused: true, timezone });
    job.stop();
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/**
 * The runs a schedule trigger owes after the module was off from `lastRunMs` until `nowMs`, by its
 * `missedRuns` policy: `skip` → none, `runOnce` → the latest missed one, `runAll` → each up to
 * `maxCatchUp` (default 10), oldest first. Also returns the next future run.
 */
export function scheduleRuns(
  trigger: Pick<ScheduleTrigger, 'cron' | 'timezone' | 'missedRuns' | 'maxCatchUp'>,
  lastRunMs: number,
  nowMs: number,
): { missedMs: number[]; nextMs: number | undefined } {
  const options = trigger.timezone === undefined ? { paused: true } : { paused: true, timezone: trigger.timezone };
  const job = new Cron(trigger.cron, options);
  try {
    const limit = trigger.missedRuns === 'runAll' ? (trigger.maxCatchUp ?? 10) : 1_000;
    const missed: number[] = [];
    let cursor = new Date(lastRunMs);
    for (let i = 0; i < 100_000; i++) {
      const next = job.nextRun(cursor);
      if (next === null || next.getTime() > nowMs) break;
      missed.push(next.getTime());
      cursor = next;
    }
    const nextRun = job.nextRun(new Date(nowMs));
    const policy = trigger.missedRuns ?? 'skip';
    const chosen = policy === 'skip' ? [] : policy === 'runOnce' ? missed.slice(-1) : missed.slice(-limit);
    return { missedMs: chosen, nextMs: nextRun === null ? undefined : nextRun.getTime() };
  } finally {
    job.stop();
  }
}

export interface TagFilterOptions {
  debounceMs?: number;
  deadband?: number;
}

/**
 * Edge-triggered tag condition with debounce and deadband. Feed it the condition's value at each tag
 * change (`observe`) and poll `due` from a timer; it reports `fire` once per false→true transition
 * that stayed true for `debounceMs`. Numeric changes within `deadband` of the last accepted value are
 * ignored (`accept`).
 */
export class TagTriggerFilter {
  private readonly debounceMs: number;
  private readonly deadband: number;
  private lastValues = new Map<string, number>();
  private trueSinceMs: number | undefined;
  private fired = false;

  constructor(options: TagFilterOptions = {}) {
    this.debounceMs = options.debounceMs ?? 0;
    this.deadband = options.deadband ?? 0;
  }

  /** False when a numeric change is inside the deadband (the change is then not evaluated). */
  accept(tag: string, value: Json): boolean {
    if (typeof value !== 'number' || this.deadband <= 0) return true;
    const last = this.lastValues.get(tag);
    if (last !== undefined && Math.abs(value - last) < this.deadband) return false;
    this.lastValues.set(tag, value);
    return true;
  }

  /** Records the condition's value at `nowMs`; true when the trigger fires now. */
  observe(conditionTrue: boolean, nowMs: number): boolean {
    if (!conditionTrue) {
      this.trueSinceMs = undefined;
      this.fired = false;
      return false;
    }
    this.trueSinceMs ??= nowMs;
    return this.due(nowMs);
  }

  /** When the debounce elapses without a new change: true when the trigger fires now. */
  due(nowMs: number): boolean {
    if (this.fired || this.trueSinceMs === undefined) return false;
    if (nowMs - this.trueSinceMs < this.debounceMs) return false;
    this.fired = true;
    return true;
  }

  /** When `due` should be polled next, if the condition is pending. */
  dueAtMs(): number | undefined {
    return this.fired || this.trueSinceMs === undefined ? undefined : this.trueSinceMs + this.debounceMs;
  }
}
