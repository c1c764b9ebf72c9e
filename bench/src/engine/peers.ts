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

async function nodeRed(dir: string, total: number, concurrency: number, warmup: number): Promise<PeerFigures> {
  const userDir = join(dir, 'user');
  rmSync(userDir, { recursive: true, force: true });
  mkdirSync(userDir, { recursive: true });
  const port = await freePort();
  const fn = (code: string, id: string, next: string): Record<string, unknown> => ({
    id,
    type: 'function',
    z: 'tab',
    func: `msg.payload.x = ${code}; return msg;`,
    outputs: 1,
    wires: [[next]],
  });
  const flows = [
    { id: 'tab', type: 'tab', label: 'wf' },
    { id: 'in', type: 'http in', z: 'tab', url: '/wf', method: 'post', upload: false, swaggerDoc: '', wires: [['f1']] },
    fn('msg.payload.x + 1', 'f1', 'f2'),
    fn('msg.payload.x * 2', 'f2', 'f3'),
    fn('msg.payload.x + 3', 'f3', 'out'),
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
    stdio: ['ignore', 'ignore', 'inherit'],
  });
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
    child.kill('SIGKILL');
    await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)));
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
    } catch (error) {
      ctx.note(`${peer.name} skipped: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}
