/** Takt's side of the engine benchmark: the runner with group commit on a fresh SQLite file per case. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DispatchCommand, type Runner, createRunner } from '@takt/engine';
import { closedLoop, expected, oneStepDefinition, stepFunction, threeStepDefinition } from './workload.js';

export interface LoopFigures {
  workflowsPerS: number;
  p50Ms: number;
  p99Ms: number;
  /** Latency of one durable step: dispatch of step n → dispatch of step n + 1 (result journaled, fsync'd). */
  stepLatenciesMs: number[];
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A dispatcher running the workload's step functions, optionally sleeping `delayMs` per step. */
export function workloadDispatch(delayMs = 0): (command: DispatchCommand) => Promise<number> {
  return async (command) => {
    if (delayMs > 0) await sleep(delayMs);
    return stepFunction(command.args['op'], command.args['x'] as number);
  };
}

async function withRunner<T>(
  dispatch: (c: DispatchCommand) => Promise<number>,
  use: (r: Runner) => Promise<T>,
): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'takt-bench-engine-'));
  const runner = createRunner({ file: join(dir, 'engine.db'), dispatch });
  try {
    await runner.start();
    runner.register(threeStepDefinition);
    runner.register(oneStepDefinition);
    return await use(runner);
  } finally {
    await runner.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const nearest = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1] ?? Number.NaN;

/** Runs N three-step workflows with C in flight (closed loop), checking every result. */
export async function runTakt(total: number, concurrency: number, warmup = 50): Promise<LoopFigures> {
  const lastDispatch = new Map<string, number>();
  const steps: number[] = [];
  let measuring = false;
  const base = workloadDispatch();
  const dispatch = (command: DispatchCommand): Promise<number> => {
    const now = performance.now();
    const previous = lastDispatch.get(command.instanceId);
    if (measuring && previous !== undefined) steps.push(now - previous);
    lastDispatch.set(command.instanceId, now);
    return base(command);
  };
  return withRunner(dispatch, async (runner) => {
    const one = async (i: number): Promise<void> => {
      const { instanceId } = await runner.startInstance({ workflowId: threeStepDefinition.id, params: { x: i } });
      const final = await runner.waitForEnd(instanceId);
      lastDispatch.delete(instanceId);
      if (final.output?.['result'] !== expected(i)) throw new Error(`wrong result for ${i}`);
    };
    await closedLoop(warmup, Math.min(concurrency, warmup), one);
    measuring = true;
    const { wallMs, latencies } = await closedLoop(total, concurrency, one);
    return {
      workflowsPerS: (total / wallMs) * 1000,
      p50Ms: nearest(latencies, 50),
      p99Ms: nearest(latencies, 99),
      stepLatenciesMs: steps.sort((a, b) => a - b),
    };
  });
}

export { nearest };
