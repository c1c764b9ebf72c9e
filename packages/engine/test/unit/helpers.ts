import type { WorkflowDefinition } from '@takt/workflow';
import { expect } from 'vitest';
import {
  type Command,
  type EngineEvent,
  type InstanceState,
  type SimulationOptions,
  type SimulationResult,
  definitionHash,
  replay,
  simulate,
  transition,
} from '../../src/index.js';

/** Freezes a JSON value all the way down (an in-place edit then throws in strict mode). */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** Simulates and checks that replaying the journal reproduces the final state exactly. */
export async function run(def: WorkflowDefinition, options: SimulationOptions = {}): Promise<SimulationResult> {
  const result = await simulate(def, options);
  expect(await replay(def, result.journal)).toEqual(result.state);
  expect(await frozenReplay(def, result.journal)).toEqual(result.state);
  return result;
}

/** Replays with every input state deep-frozen: proves the core never edits the state it is given. */
export async function frozenReplay(
  def: WorkflowDefinition,
  journal: readonly EngineEvent[],
): Promise<InstanceState | undefined> {
  let state: InstanceState | undefined;
  for (const event of journal) {
    const next = await transition(def, state === undefined ? undefined : deepFreeze(state), event);
    if (next.rejection === undefined) state = next.state;
  }
  return state;
}

export const err = (code: string, retryable = false) => ({ code, message: code, retryable });

/** Drives the core by hand, event by event, on a manual clock. */
export class Drive {
  state: InstanceState | undefined;
  commands: Command[] = [];
  all: Command[] = [];
  journal: EngineEvent[] = [];
  now = 1_000_000;

  constructor(
    readonly def: WorkflowDefinition,
    readonly instanceId = 'i1',
  ) {}

  async start(params = {}, tags?: Record<string, never>): Promise<this> {
    const event = {
      type: 'start' as const,
      instanceId: this.instanceId,
      definitionHash: definitionHash(this.def),
      params,
    };
    await this.send(tags === undefined ? event : { ...event, tags });
    return this;
  }

  async send(event: DistributiveOmit<EngineEvent, 'atMs'>, advanceMs = 0): Promise<{ code: string } | undefined> {
    this.now += advanceMs;
    const full = { ...event, atMs: this.now };
    if (this.state !== undefined) deepFreeze(this.state); // the core must never edit its input
    const t = await transition(this.def, this.state, full);
    if (t.rejection !== undefined) return t.rejection;
    this.journal.push(full);
    this.state = t.state;
    this.commands = t.commands;
    this.all.push(...t.commands);
    return undefined;
  }

  get s(): InstanceState {
    if (this.state === undefined) throw new Error('not started');
    return this.state;
  }

  dispatches(action?: string): Extract<Command, { type: 'dispatch' }>[] {
    return this.all.filter(
      (c): c is Extract<Command, { type: 'dispatch' }> =>
        c.type === 'dispatch' && (action === undefined || c.action === action),
    );
  }

  last<T extends Command['type']>(type: T): Extract<Command, { type: T }> {
    const found = [...this.all].reverse().find((c) => c.type === type);
    if (found === undefined) throw new Error(`no ${type} command`);
    return found as Extract<Command, { type: T }>;
  }

  pendingCommand(stepId: string): string {
    const entry = Object.entries(this.s.pending).find(([id]) => id.includes(`:${stepId}:`));
    if (entry === undefined) throw new Error(`nothing pending for ${stepId}`);
    return entry[0];
  }

  async ok(stepId: string, value: unknown = null, advanceMs = 0): Promise<void> {
    await this.send(
      { type: 'result', commandId: this.pendingCommand(stepId), ok: true, value: value as never },
      advanceMs,
    );
  }

  async fail(stepId: string, code: string, retryable = false, advanceMs = 0): Promise<void> {
    await this.send(
      { type: 'result', commandId: this.pendingCommand(stepId), ok: false, error: err(code, retryable) },
      advanceMs,
    );
  }

  /** Fires the earliest timer. */
  async fireNext(): Promise<string> {
    const timers = Object.entries(this.s.timers).sort((a, b) => a[1].dueAtMs - b[1].dueAtMs);
    const first = timers[0];
    if (first === undefined) throw new Error('no timers');
    this.now = Math.max(this.now, first[1].dueAtMs);
    await this.send({ type: 'timer', timerId: first[0] });
    return first[0];
  }

  async replayMatches(): Promise<void> {
    expect(await replay(this.def, this.journal)).toEqual(this.state);
  }
}
