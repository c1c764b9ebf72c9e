/**
 * Child process: bpmn-engine (installed in bench/.peers/bpmn-engine) running the 3-step workload as
 * three BPMN service tasks, in memory (bpmn-engine has no persistence of its own). Prints one JSON
 * line with the figures and its own peak RSS.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { closedLoop, expected, stepFunction } from './workload.js';

interface BpmnEngine {
  waitFor(event: string): Promise<unknown>;
  execute(options?: Record<string, unknown>): Promise<unknown>;
  _getModdleContext(source: string): Promise<unknown>;
}
type EngineFactory = new (options: Record<string, unknown>) => BpmnEngine;

const [peerDir, totalText, concurrencyText, warmupText] = process.argv.slice(2);
if (peerDir === undefined) throw new Error('usage: bpmn-child <peerDir> <total> <concurrency> <warmup>');
const entry = createRequire(`${peerDir}/package.json`).resolve('bpmn-engine');
const mod = (await import(pathToFileURL(entry.replace(/lib\/index\.cjs$/, 'src/index.js')).href)) as {
  Engine: EngineFactory;
};

const source = `<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs" targetNamespace="http://takt.dev/bench">
  <process id="wf" isExecutable="true">
    <startEvent id="start" />
    <sequenceFlow id="f0" sourceRef="start" targetRef="add1" />
    <serviceTask id="add1" implementation="\${environment.services.add1}" />
    <sequenceFlow id="f1" sourceRef="add1" targetRef="double" />
    <serviceTask id="double" implementation="\${environment.services.double}" />
    <sequenceFlow id="f2" sourceRef="double" targetRef="add3" />
    <serviceTask id="add3" implementation="\${environment.services.add3}" />
    <sequenceFlow id="f3" sourceRef="add3" targetRef="end" />
    <endEvent id="end" />
  </process>
</definitions>`;

const moddleContext = await new mod.Engine({ name: 'parse' })._getModdleContext(source);
const runOne = async (i: number): Promise<void> => {
  const box = { x: i };
  const service =
    (op: string) =>
    (_message: unknown, callback: (error: unknown, result?: unknown) => void): void => {
      void Promise.resolve().then(() => {
        box.x = stepFunction(op, box.x);
        callback(null, box.x);
      });
    };
  const engine = new mod.Engine({
    name: `wf-${i}`,
    moddleContext,
    services: { add1: service('add1'), double: service('double'), add3: service('add3') },
  });
  const ended = engine.waitFor('end');
  await engine.execute();
  await ended;
  if (box.x !== expected(i)) throw new Error(`bpmn-engine: wrong result for ${i}`);
};

const total = Number(totalText ?? 2000);
const concurrency = Number(concurrencyText ?? 200);
await closedLoop(Number(warmupText ?? 50), Math.min(concurrency, 50), runOne);
const { wallMs, latencies } = await closedLoop(total, concurrency, runOne);
const nearest = (p: number): number =>
  latencies[Math.min(latencies.length, Math.max(1, Math.ceil((p / 100) * latencies.length))) - 1] ?? Number.NaN;
process.stdout.write(
  `RESULT ${JSON.stringify({ workflowsPerS: (total / wallMs) * 1000, p50Ms: nearest(50), p99Ms: nearest(99), peakRssMb: process.resourceUsage().maxRSS / 1024 })}\n`,
);
