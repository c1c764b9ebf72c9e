/**
 * Child process for the kill -9 recovery figure. `load`: start N three-step workflows whose steps
 * sleep 5 ms, print INFLIGHT once all are committed (the parent then SIGKILLs us). `resume`: open the
 * same database, time `start()` (replay + re-dispatch) until every instance has ended, print RECOVERED.
 */
import { type Runner, createRunner } from '@takt/engine';
import { expected, threeStepDefinition } from './workload.js';
import { workloadDispatch } from './takt.js';

const [mode, file, countText] = process.argv.slice(2);
const count = Number(countText ?? 1000);
if ((mode !== 'load' && mode !== 'resume') || file === undefined)
  throw new Error('usage: recovery-child load|resume <db> [n]');

const runner: Runner = createRunner({ file, dispatch: workloadDispatch(5) });
const began = performance.now();
const report = await runner.start();
runner.register(threeStepDefinition);
if (mode === 'load') {
  await Promise.all(
    Array.from({ length: count }, (_, i) =>
      runner.startInstance({ workflowId: threeStepDefinition.id, params: { x: i }, instanceId: `r-${i}` }),
    ),
  );
  process.stdout.write(`INFLIGHT ${runner.activeCount}\n`);
  // Keep running until killed.
  await new Promise((resolve) => setTimeout(resolve, 60_000));
} else {
  let wrong = 0;
  await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const final = await runner.waitForEnd(`r-${i}`);
      if (final.status !== 'succeeded' || final.output?.['result'] !== expected(i)) wrong += 1;
    }),
  );
  const doneMs = performance.now() - began;
  process.stdout.write(
    `RECOVERED ${JSON.stringify({ resumed: report.instances, doneMs, startMs: report.durationMs, wrong, uptimeMs: process.uptime() * 1000 })}\n`,
  );
  await runner.close();
}
