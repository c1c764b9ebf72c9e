/** The peer-comparison workload (../../../shared/notes/peer-engines.md §2): x → x + 1 → × 2 → + 3. */
import type { WorkflowDefinition } from '@takt/workflow';

export const threeStepDefinition: WorkflowDefinition = {
  id: 'bench-three-step',
  version: '1',
  parameters: { x: { type: 'number' } },
  variables: { x: '{{ params.x }}' },
  outputs: { result: { value: '{{ vars.x }}' } },
  start: 'add1',
  steps: {
    add1: { type: 'action', action: 'invoke', args: { op: 'add1', x: '{{ vars.x }}' }, resultVar: 'x', next: 'double' },
    double: {
      type: 'action',
      action: 'invoke',
      args: { op: 'double', x: '{{ vars.x }}' },
      resultVar: 'x',
      next: 'add3',
    },
    add3: { type: 'action', action: 'invoke', args: { op: 'add3', x: '{{ vars.x }}' }, resultVar: 'x', end: true },
  },
};

/** One step, for the per-step latency figure. */
export const oneStepDefinition: WorkflowDefinition = {
  id: 'bench-one-step',
  version: '1',
  parameters: { x: { type: 'number' } },
  start: 'add1',
  steps: {
    add1: { type: 'action', action: 'invoke', args: { op: 'add1', x: '{{ params.x }}' }, resultVar: 'x', end: true },
  },
};

export const expected = (i: number): number => (i + 1) * 2 + 3;

/** The step functions: trivial async work, optionally with a delay (the kill -9 case sleeps 5 ms). */
export function stepFunction(op: unknown, x: number): number {
  if (op === 'add1') return x + 1;
  if (op === 'double') return x * 2;
  if (op === 'add3') return x + 3;
  throw Object.assign(new Error(`unknown op ${String(op)}`), { code: 'HANDLER_FAILED', retryable: false });
}

/** Closed loop: `concurrency` workers take the next index until `total` are done; latencies in ms. */
export async function closedLoop(
  total: number,
  concurrency: number,
  run: (i: number) => Promise<void>,
): Promise<{ wallMs: number; latencies: number[] }> {
  const latencies: number[] = [];
  let next = 0;
  const began = performance.now();
  const worker = async (): Promise<void> => {
    for (let guard = 0; guard < total; guard++) {
      const i = next++;
      if (i >= total) return;
      const t0 = performance.now();
      await run(i);
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, () => worker()));
  return { wallMs: performance.now() - began, latencies: latencies.sort((a, b) => a - b) };
}
