/**
 * Peers of the engine benchmark, each installed on demand into bench/.peers/<name> (never the main
 * install) and run in its own process on loopback: Node-RED 4 (http in → 3 function nodes → http
 * response, driven with fetch) and bpmn-engine (3 service tasks, in memory).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BenchContext, benchRoot } from '../context.js';
import { startTs } from './recovery.js';
import { closedLoop, expected } from './workload.js';

export type RecordFigure = (system: string, name: string, metric: string, value: number, unit: string) => void;

interface PeerFigures {
  workflowsPerS: number;
  p50Ms: number;
  p99Ms: number;
  peakRssMb: number;
}

const peersDir = join(benchRoot, '.peers');
const tsx = createRequire(import.meta.url).resolve('tsx');

/** Installs `spec` into bench/.peers/<name> with npm unless it is there; returns the folder. */
function ensurePeer(ctx: BenchContext, name: string, spec: string, probe: string): string {
  const dir = join(peersDir, name);
  if (!existsSync(join(dir, 'node_modules', probe, 'package.json'))) {
    ctx.note(`installing ${spec} into ${dir}`);
    mkdirSync(dir, { recursive: true });
    execFileSync('npm', ['install', '--prefix', dir, spec, '--no-audit', '--no-fund', '--omit=optional'], {
      stdio: ['ignore', 'ignore', 'inherit'],
      timeout: 300_000,
    });
  }
  return dir;
}

function peerVersion(dir: string, pkg: string): string {
  const json = JSON.parse(readFileSync(join(dir, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string };
  return `${pkg}@${json.version}`;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

function vmHwmMb(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
    return kb === undefined ? Number.NaN : Number(kb) / 1024;
  } catch {
    return Number.NaN;
  }
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; attempt < 10_000; attempt++) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, Math.min(200, 10 * 2 ** attempt)));
  }
}

const nearest = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1] ?? Number.NaN;

/** Writes the flow and settings and starts Node-RED; `stepDelayMs` > 0 makes each step sleep and log `DONE <i>`. */
async function startNodeRed(
  dir: string,
  stepDelayMs: number,
  fresh: boolean,
): Promise<{ child: ChildProcess; port: number; output: () => string }> {
  const userDir = join(dir, 'user');
  if (fresh) rmSync(userDir, { recursive: true, force: true });
  mkdirSync(userDir, { recursive: true });
  const port = await freePort();
  const fn = (code: string, id: string, next: string, last = false): Record<string, unknown> => ({
    id,
    type: 'function',
    z: 'tab',
    func:
      stepDelayMs > 0
        ? `setTimeout(() => { msg.payload.x = ${code};${last ? " node.warn('DONE ' + msg.payload.i);" : ''} node.send(msg); }, ${stepDelayMs}); return null;`
        : `msg.payload.x = ${code}; return msg;`,
    outputs: 1,
    wires: [[next]],
  });
  const flows = [
    { id: 'tab', type: 'tab', label: 'wf' },
    { id: 'in', type: 'http in', z: 'tab', url: '/wf', method: 'post', upload: false, swaggerDoc: '', wires: [['f1']] },
    fn('msg.payload.x + 1', 'f1', 'f2'),
    fn('msg.payload.x * 2', 'f2', 'f3'),
    fn('msg.payload.x + 3', 'f3', 'out', true),
    { id: 'out', type: 'http response', z: 'tab', statusCode: '', headers: {}, wires: [] },
  ];
  writeFileSync(join(userDir, 'flows.json'), JSON.stringify(flows));
  const settings = join(userDir, 'settings.cjs');
  writeFileSync(
    settings,
    `module.exports = ${JSON.stringify({
      uiHost: '127.0.0.1',
      uiPort: port,
      httpAdminRoot: false,
      disableEditor: true,
      flowFile: 'flows.json',
      userDir,
      credentialSecret: false,
      logging: { console: { level: 'warn' } },
      contextStorage: { default: { module: 'memory' } },
      diagnostics: { enabled: false, ui: false },
      telemetry: { enabled: false },
      externalModules: { autoInstall: false, palette: { allowInstall: false } },
    })};\n`,
  );
  const red = join(dir, 'node_modules', 'node-red', 'red.js');
  const child: ChildProcess = spawn(process.execPath, [red, '--userDir', userDir, '--settings', settings], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
    if (output.length > 4_000_000) output = output.slice(-2_000_000);
  });
  return { child, port, output: () => output };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

async function nodeRed(dir: string, total: number, concurrency: number, warmup: number): Promise<PeerFigures> {
  const { child, port } = await startNodeRed(dir, 0, true);
  try {
    const url = `http://127.0.0.1:${port}/wf`;
    const call = async (i: number): Promise<void> => {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ x: i }),
      });
      const body = (await response.json()) as { x: number };
      if (body.x !== expected(i)) throw new Error(`node-red: wrong result for ${i}`);
    };
    await waitUntil(
      async () => {
        await call(0);
        return true;
      },
      30_000,
      'Node-RED to answer',
    );
    await closedLoop(warmup, Math.min(concurrency, warmup), call);
    const { wallMs, latencies } = await closedLoop(total, concurrency, call);
    return {
      workflowsPerS: (total / wallMs) * 1000,
      p50Ms: nearest(latencies, 50),
      p99Ms: nearest(latencies, 99),
      peakRssMb: vmHwmMb(child.pid),
    };
  } finally {
    await stopChild(child);
  }
}

/**
 * Node-RED kill -9: steps sleep 5 ms, `total` requests all in flight at once, SIGKILL at the first
 * completion, restart on the same user dir without resubmitting, count completions 5 s later.
 */
async function nodeRedKill(dir: string, total: number): Promise<{ inFlight: number; resumed: number }> {
  const first = await startNodeRed(dir, 5, true);
  const doneCount = (text: string): number => (text.match(/DONE \d+/g) ?? []).length;
  let inFlight = 0;
  try {
    const url = `http://127.0.0.1:${first.port}/wf`;
    await waitUntil(
      async () =>
        (await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"x":0,"i":-1}' }))
          .ok,
      30_000,
      'Node-RED to answer',
    );
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let guard = 0; guard < total; guard++) {
        const i = next++;
        if (i >= total) return;
        await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ x: i, i }),
        }).catch(() => undefined);
      }
    };
    const load = Promise.all(Array.from({ length: total }, () => worker()));
    await waitUntil(() => Promise.resolve(doneCount(first.output()) >= 1), 60_000, 'the first completion');
    inFlight = total - doneCount(first.output());
    await stopChild(first.child);
    await load;
  } finally {
    await stopChild(first.child);
  }
  const second = await startNodeRed(dir, 5, false);
  try {
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    return { inFlight, resumed: doneCount(second.output()) };
  } finally {
    await stopChild(second.child);
  }
}

async function bpmnEngine(dir: string, total: number, concurrency: number, warmup: number): Promise<PeerFigures> {
  const script = fileURLToPath(new URL('./bpmn-child.ts', import.meta.url));
  const child = spawn(
    process.execPath,
    [
      '--conditions=takt-source',
      '--import',
      new URL(`file://${tsx}`).href,
      script,
      dir,
      String(total),
      String(concurrency),
      String(warmup),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const line = out.split('\n').find((l) => l.startsWith('RESULT '));
  if (code !== 0 || line === undefined) throw new Error(`bpmn-engine child failed (${String(code)}): ${out}`);
  return JSON.parse(line.slice('RESULT '.length)) as PeerFigures;
}

/**
 * bpmn-engine kill -9 with its application-side persistence (getState → SQLite FULL after every
 * activity): N in flight, SIGKILL, then recover and resume every unfinished one.
 */
async function bpmnKill(
  dir: string,
  count: number,
): Promise<{ resumed: number; recoveryMs: number; restartToDoneMs: number; wrong: number; stepRuns: number }> {
  const script = fileURLToPath(new URL('./bpmn-persisted-child.ts', import.meta.url));
  const scratch = join(peersDir, 'bpmn-engine', 'kill-test');
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  const file = join(scratch, 'states.db');
  try {
    const load = startTs(script, ['load', dir, file, String(count)]);
    await load.line(/^INFLIGHT$/, 120_000);
    const killed = new Promise((resolve) => load.proc.once('exit', resolve));
    load.proc.kill('SIGKILL');
    await killed;
    const spawnedAt = performance.now();
    const resume = startTs(script, ['resume', dir, file, String(count)]);
    const line = await resume.line(/^RECOVERED /, 180_000);
    const restartToDoneMs = performance.now() - spawnedAt;
    const result = JSON.parse(line.slice('RECOVERED '.length)) as {
      resumed: number;
      doneMs: number;
      wrong: number;
      stepRuns: number;
    };
    return {
      resumed: result.resumed,
      recoveryMs: result.doneMs,
      restartToDoneMs,
      wrong: result.wrong,
      stepRuns: result.stepRuns,
    };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Runs the peers after Takt; a peer that cannot be installed or run is noted and skipped. */
export async function runPeers(ctx: BenchContext, total: number, record: RecordFigure): Promise<void> {
  const peers: { name: string; spec: string; pkg: string; run: typeof nodeRed; sequential: number }[] = [
    { name: 'node-red', spec: 'node-red@4', pkg: 'node-red', run: nodeRed, sequential: total },
    { name: 'bpmn-engine', spec: 'bpmn-engine@25', pkg: 'bpmn-engine', run: bpmnEngine, sequential: 500 },
  ];
  for (const peer of peers) {
    try {
      const dir = ensurePeer(ctx, peer.name, peer.spec, peer.pkg);
      const system = peerVersion(dir, peer.pkg);
      ctx.note(`${system}: ${total} workflows, 200 in flight`);
      const concurrent = await peer.run(dir, total, 200, 50);
      record(system, `3-step-${total}-concurrent`, 'workflows_per_s', concurrent.workflowsPerS, '1/s');
      record(system, `3-step-${total}-concurrent`, 'p50_ms', concurrent.p50Ms, 'ms');
      record(system, `3-step-${total}-concurrent`, 'p99_ms', concurrent.p99Ms, 'ms');
      record(system, `3-step-${total}-concurrent`, 'peak_rss_mb', concurrent.peakRssMb, 'MB');
      ctx.note(`${system}: ${peer.sequential} workflows, one at a time`);
      const sequential = await peer.run(dir, peer.sequential, 1, 50);
      record(system, `3-step-${peer.sequential}-sequential`, 'workflows_per_s', sequential.workflowsPerS, '1/s');
      record(system, `3-step-${peer.sequential}-sequential`, 'p50_ms', sequential.p50Ms, 'ms');
      record(system, `3-step-${peer.sequential}-sequential`, 'p99_ms', sequential.p99Ms, 'ms');
      if (peer.name === 'bpmn-engine') {
        ctx.note(`${system} + getState → SQLite FULL: kill -9 with 1,000 in flight, recover and resume`);
        const kill = await bpmnKill(dir, 1000);
        const persisted = `${system}+sqlite`;
        record(persisted, 'kill9-1000-in-flight', 'recovery_ms', kill.recoveryMs, 'ms');
        record(persisted, 'kill9-1000-in-flight', 'restart_to_done_ms', kill.restartToDoneMs, 'ms');
        record(persisted, 'kill9-1000-in-flight', 'resumed', kill.resumed, 'instances');
        record(persisted, 'kill9-1000-in-flight', 'step_runs', kill.stepRuns, 'runs');
        if (kill.wrong > 0) ctx.note(`${persisted}: ${kill.wrong} wrong results after recovery`);
      }
      if (peer.name === 'node-red') {
        ctx.note(`${system}: kill -9 with 1,000 in flight, restart, count completions after 5 s`);
        const kill = await nodeRedKill(dir, 1000);
        record(system, 'kill9-1000-in-flight', 'in_flight', kill.inFlight, 'instances');
        record(system, 'kill9-1000-in-flight', 'resumed', kill.resumed, 'instances');
      }
    } catch (error) {
      ctx.note(`${peer.name} skipped: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}
