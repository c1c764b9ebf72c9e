/** Every JSON example in docs/workflow-language.md validates, simulates and replays to the same state. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type WorkflowDefinition, validateWorkflow } from '@takt/workflow';
import { describe, expect, it } from 'vitest';
import type { SimulationOptions } from '../../src/index.js';
import { run } from './helpers.js';

const doc = readFileSync(fileURLToPath(new URL('../../../../docs/workflow-language.md', import.meta.url)), 'utf8');
const examples = [...doc.matchAll(/```json\n([\s\S]*?)\n```/g)].map(
  (m) => JSON.parse(m[1]!) as Record<string, unknown>,
);

const scripts: Record<string, { options: SimulationOptions; status: string }> = {
  'mix-batch': { options: {}, status: 'succeeded' },
  'shift-clean': { options: {}, status: 'succeeded' },
  'dose-and-mix': {
    options: { params: { batch: 'B1', kg: 100 }, responses: { measure: { value: { value: 100.4 } } } },
    status: 'succeeded',
  },
  'fill-line': {
    options: {
      params: { lots: ['L1', 'L2', 'L3'] },
      events: [{ atMs: 60_000, event: { type: 'tags', values: { TankTemp: 65 } } }],
      approvals: { release: { decision: 'approve', afterMs: 3_600_000 } },
    },
    status: 'succeeded',
  },
  'reactor-run': {
    options: {
      tags: { CoolingOk: true, Pressure: 2 },
      phases: { charge: { afterMs: 1_800_000 }, react: { afterMs: 5_400_000 } },
    },
    status: 'succeeded',
  },
};

describe('docs/workflow-language.md examples', () => {
  it('has the examples this test knows', () => {
    const ids = examples.filter((e) => e['steps'] !== undefined).map((e) => e['id']);
    expect(ids.sort()).toEqual(Object.keys(scripts).sort());
    expect(examples.some((e) => e['uri'] !== undefined)).toBe(true);
  });

  for (const example of examples) {
    it(`validates ${String(example['id'])}`, async () => {
      const result = validateWorkflow(example);
      expect(result.problems).toEqual([]);
      if (result.kind === 'reference') return;
      const script = scripts[String(example['id'])]!;
      const outcome = await run(example as unknown as WorkflowDefinition, script.options);
      expect(outcome.status).toBe(script.status);
    });
  }

  it('simulates the four-hour reactor run in milliseconds', async () => {
    const reactor = examples.find((e) => e['id'] === 'reactor-run') as unknown as WorkflowDefinition;
    const began = performance.now();
    const outcome = await run(reactor, scripts['reactor-run']!.options);
    expect(outcome.virtualMs).toBe(7_800_000);
    expect(performance.now() - began).toBeLessThan(1_000);
    const aborted = await run(reactor, {
      ...scripts['reactor-run']!.options,
      events: [{ atMs: 3_600_000, event: { type: 'tags', values: { Pressure: 7.5 } } }],
    });
    expect(aborted.status).toBe('aborted');
    expect(aborted.dispatched.filter((d) => d.action === 'opcua.write').map((d) => d.stepId)).toEqual([
      'ventValve',
      'heatOff',
    ]);
  });
});
