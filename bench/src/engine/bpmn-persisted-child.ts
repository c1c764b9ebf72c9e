/**
 * Child process: bpmn-engine with the application-side persistence it needs (peer-engines.md §1:
 * save `getState()` after every activity to SQLite, synchronous FULL; resume with `recover().resume()`).
 * `load`: start N workflows whose steps sleep 5 ms, print INFLIGHT (the parent SIGKILLs us).
 * `resume`: recover every unfinished one, print RECOVERED with the time until all ended.
 */
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { expected, stepFunction } from './workload.js';

interface BpmnEngine {
  waitFor(event: string): Promise<unknown>;
  execute(options?: Record<string, unknown>): Promise<unknown>;
  recover(state: unknown, options?: Record<string, unknown>): BpmnEngine;
  resume(options?: Record<string, unknown>): Promise<unknown>;
  getState(): Promise<unknown>;
  _getModdleContext(source: string): Promise<unknown>;
}
type EngineFactory = new (options: Record<string, unknown>) => BpmnEngine;

const [mode, peerDir, file, countText] = process.argv.slice(2);
if ((mode !== 'load' && mode !== 'resume') || peerDir === undefined || file === undefined) {
  throw new Error('usage: bpmn-persisted-child load|resume <peerDir> <db> [n]');
}
const count = Number(countText ?? 1000);
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

const db = new Database(file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.exec(
  'CREATE TABLE IF NOT EXISTS states (id INTEGER PRIMARY KEY, x INTEGER NOT NULL, state TEXT NOT NULL, done INTEGER NOT NULL)',
);
const save = db.prepare('INSERT OR REPLACE INTO states (id, x, state, done) VALUES (?, ?, ?, ?)');
let stepRuns = 0;

function wire(
  i: number,
  box: { x: number },
): { services: Record<string, unknown>; listener: EventEmitter; engineRef: { engine?: BpmnEngine } } {
  const engineRef: { engine?: BpmnEngine } = {};
  const service =
    (op: string) =>
    (_message: unknown, callback: (error: unknown, result?: unknown) => void): void => {
      stepRuns += 1;
      setTimeout(() => {
        box.x = stepFunction(op, box.x);
        callback(null, box.x);
      }, 5);
    };
  const listener = new EventEmitter();
  listener.on('activity.end', () => {
    void engineRef.engine?.getState().then((state) => save.run(i, box.x, JSON.stringify(state), 0));
  });
  return { services: { add1: service('add1'), double: service('double'), add3: service('add3') }, listener, engineRef };
}

const began = performance.now();
if (mode === 'load') {
  const moddleContext = await new mod.Engine({ name: 'parse' })._getModdleContext(source);
  await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const box = { x: i };
      const { services, listener, engineRef } = wire(i, box);
      const engine = new mod.Engine({ name: `wf-${i}`, moddleContext, services });
      engineRef.engine = engine;
      const ended = engine.waitFor('end').then(() => save.run(i, box.x, '{}', 1));
      await engine.execute({ listener });
      save.run(i, box.x, JSON.stringify(await engine.getState()), 0);
      void ended;
    }),
  );
  process.stdout.write('INFLIGHT\n');
  await new Promise((resolve) => setTimeout(resolve, 60_000));
} else {
  const rows = db.prepare('SELECT id, x, state FROM states WHERE done = 0').all() as {
    id: number;
    x: number;
    state: string;
  }[];
  let wrong = 0;
  await Promise.all(
    rows.map(async (row) => {
      const box = { x: row.x };
      const { services, listener, engineRef } = wire(row.id, box);
      const engine = new mod.Engine({ name: `wf-${row.id}` }).recover(JSON.parse(row.state), { services });
      engineRef.engine = engine;
      const ended = engine.waitFor('end');
      await engine.resume({ listener });
      await ended;
      save.run(row.id, box.x, '{}', 1);
      if (box.x !== expected(row.id)) wrong += 1;
    }),
  );
  const lost = count - (db.prepare('SELECT COUNT(*) AS n FROM states').get() as { n: number }).n;
  process.stdout.write(
    `RECOVERED ${JSON.stringify({ resumed: rows.length, doneMs: performance.now() - began, wrong, lost, stepRuns })}\n`,
  );
}
db.close();
