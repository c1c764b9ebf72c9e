/**
 * `npm start`: the whole suite on one machine, as separate processes — the IoT Hub + edgeHub emulator
 * (reading the deployment manifest rendered and validated as for `az iot edge set-modules`), the Azure
 * service emulators (Digital Twins, Service Bus, Event Grid, Application Insights ingestion), the OPC UA plant, and every module under `modules/` with the
 * production-style `IOTEDGE_*` environment and the workload API. Logs are multiplexed with a prefix per
 * process. Prints where to look. Ctrl-C (or SIGTERM) stops everything cleanly.
 *
 *     npm start                  # run until Ctrl-C
 *     npm start -- --check       # start everything, print the guide, stop again (smoke test)
 *
 * Environment: TAKT_DATA_DIR (default .takt), TAKT_HOST (default 127.0.0.1; ports 8883 and 443 are fixed
 * by the SDK, so binding 443 needs root or `net.ipv4.ip_unprivileged_port_start=443`), TAKT_PLANT_PORT
 * (default 4840), TAKT_PLANT_SPEED (default 1), RuntimeLogLevel.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { EdgeHubControlClient } from '@takt/sim-edge-hub';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values: args } = parseArgs({ options: { check: { type: 'boolean', default: false } }, strict: true });
const dataDir = resolve(process.env['TAKT_DATA_DIR'] ?? join(root, '.takt'));
const host = process.env['TAKT_HOST'] ?? '127.0.0.1';
const plantPort = process.env['TAKT_PLANT_PORT'] ?? '4840';
const plantSpeed = process.env['TAKT_PLANT_SPEED'] ?? '1';
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

const colors = [36, 33, 35, 32, 34, 31];
const out = (line: string): void => void process.stdout.write(`${line}\n`);

interface Proc {
  name: string;
  child: ChildProcess;
  exited: Promise<number | string>;
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<string>;
}

const procs: Proc[] = [];

/** Starts a TypeScript entry point from source, prefixing every output line with its name. */
function start(name: string, entry: string, argv: string[], env: Record<string, string> = {}): Proc {
  const color = colors[procs.length % colors.length] ?? 36;
  const prefix = process.stdout.isTTY ? `\u001b[${color}m${name.padEnd(16)}\u001b[0m│ ` : `${name.padEnd(16)}│ `;
  const child = spawn(process.execPath, ['--conditions=takt-source', '--import', tsx, entry, ...argv], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const waiters = new Set<{ pattern: RegExp; resolve: (line: string) => void }>();
  const seen: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    let partial = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        out(`${prefix}${line}`);
        seen.push(line);
        for (const w of waiters) {
          if (w.pattern.test(line)) {
            waiters.delete(w);
            w.resolve(line);
          }
        }
      }
    });
  }
  const exited = new Promise<number | string>((done) =>
    child.once('exit', (code, signal) => done(code ?? signal ?? 0)),
  );
  const proc: Proc = {
    name,
    child,
    exited,
    waitForLine(pattern, timeoutMs) {
      const already = seen.find((l) => pattern.test(l));
      if (already !== undefined) return Promise.resolve(already);
      return new Promise((resolveLine, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`${name} was not ready within ${timeoutMs} ms`));
        }, timeoutMs);
        const waiter = {
          pattern,
          resolve: (line: string) => {
            clearTimeout(timer);
            resolveLine(line);
          },
        };
        waiters.add(waiter);
        void exited.then((code) => {
          if (!waiters.delete(waiter)) return;
          clearTimeout(timer);
          reject(new Error(`${name} exited (${String(code)}) before it was ready`));
        });
      });
    },
  };
  procs.push(proc);
  return proc;
}

/** A random secret kept in the data folder (mode 0600), made on first start: local runs only. */
function localSecret(name: string): string {
  const file = join(dataDir, name);
  if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('base64url'), { mode: 0o600 });
  return readFileSync(file, 'utf8').trim();
}

let stopping: Promise<void> | undefined;
function stopAll(): Promise<void> {
  stopping ??= (async () => {
    // modules first, then the plant, then edgeHub (reverse start order)
    for (const proc of [...procs].reverse()) {
      if (proc.child.exitCode !== null || proc.child.signalCode !== null) continue;
      proc.child.kill('SIGTERM');
      const timer = setTimeout(() => proc.child.kill('SIGKILL'), 10_000);
      await proc.exited;
      clearTimeout(timer);
    }
  })();
  return stopping;
}

process.once('SIGINT', () => void stopAll().then(() => process.exit(0)));
process.once('SIGTERM', () => void stopAll().then(() => process.exit(0)));

async function main(): Promise<void> {
  mkdirSync(dataDir, { recursive: true });
  const started = Date.now();
  // The emulator reads the manifest exactly as `az iot edge set-modules` would get it: rendered and validated.
  const manifest = join(dataDir, 'deployment.amd64.json');
  const render = start('manifest', 'simulators/edge-hub/src/manifest/render-cli.ts', ['--out', manifest]);
  const rendered = await render.exited;
  if (rendered !== 0) throw new Error(`rendering the deployment manifest failed (${String(rendered)})`);
  procs.splice(procs.indexOf(render), 1);
  const hub = start('edge-hub', 'simulators/edge-hub/src/main.ts', [
    '--data-dir',
    join(dataDir, 'edge-hub'),
    '--manifest',
    manifest,
    '--host',
    host,
    '--workload-socket',
    join(dataDir, 'edge-hub', 'workload.sock'),
  ]);
  const plant = start('opcua-plant', 'simulators/opcua-plant/src/main.ts', [
    '--host',
    host,
    '--port',
    plantPort,
    '--speed',
    plantSpeed,
    '--data-dir',
    join(dataDir, 'opcua-plant'),
    '--diag-port',
    '0',
  ]);
  const azure = start('azure', 'simulators/azure/src/main.ts', [
    '--host',
    host,
    '--cert-dir',
    join(dataDir, 'azure', 'certs'),
  ]);
  const hubLine = await hub.waitForLine(/^edge-hub ready /, 30_000);
  const azureLine = await azure.waitForLine(/^azure-emulators ready /, 30_000);
  const azureField = (key: string): string => new RegExp(`(?:^| )${key}=(\\S+)`).exec(azureLine)?.[1] ?? '';
  const controlUrl = /control=(\S+)/.exec(hubLine)?.[1] ?? '';
  const control = new EdgeHubControlClient(controlUrl);

  const modules = existsSync(join(root, 'modules'))
    ? readdirSync(join(root, 'modules')).filter((m) => existsSync(join(root, 'modules', m, 'src', 'main.ts')))
    : [];
  const adminPassword = localSecret('admin-password');
  const extraEnv: Record<string, Record<string, string>> = {
    orchestrator: {
      TAKT_HTTP_HOST: host,
      TAKT_HTTP_PORT: '8080',
      TAKT_ADMIN_USER: 'admin',
      TAKT_ADMIN_PASSWORD: adminPassword,
    },
    audit: { TAKT_AUDIT_MAC_KEY: localSecret('audit-mac-key') },
    // The real Azure SDK clients against the local emulators; the CA is trusted through NODE_EXTRA_CA_CERTS.
    'cloud-bridge': {
      NODE_EXTRA_CA_CERTS: azureField('ca'),
      TAKT_DT_URL: azureField('dt'),
      AZURE_AUTHORITY_HOST: azureField('dt'),
      AZURE_TENANT_ID: 'takt-local',
      AZURE_CLIENT_ID: 'takt-local',
      AZURE_CLIENT_SECRET: 'takt-local',
      TAKT_SB_CONNECTION_STRING: azureField('sb'),
      TAKT_EG_ENDPOINT: azureField('eg'),
      TAKT_EG_KEY: azureField('eg-key'),
    },
  };
  for (const [index, moduleId] of modules.entries()) {
    const env = await control.moduleEnv(moduleId, 'workload');
    start(moduleId, `modules/${moduleId}/src/main.ts`, [], {
      ...env.env,
      TAKT_DATA_DIR: join(dataDir, moduleId),
      // every module serves Prometheus metrics; on one host each needs its own port (9600 in a container)
      TAKT_METRICS_HOST: host,
      TAKT_METRICS_PORT: String(9601 + index),
      ...extraEnv[moduleId],
    });
  }
  const plantLine = await plant.waitForLine(/^opcua-plant ready /, 60_000);
  const plantUrl = /ready (\S+)/.exec(plantLine)?.[1] ?? '';
  const diagUrl = /diag=(\S+)/.exec(plantLine)?.[1];

  // Where the CLI (scripts/takt.ts) and other tools find the running suite.
  const suiteFile = join(dataDir, 'suite.json');
  writeFileSync(
    suiteFile,
    `${JSON.stringify(
      {
        controlUrl,
        plantUrl,
        diagUrl,
        consoleUrl: modules.includes('orchestrator') ? `http://${host}:8080` : undefined,
        modules,
        startedAt: new Date().toISOString(),
      },
      null,
      2,
    )}\n`,
  );
  process.once('exit', () => rmSync(suiteFile, { force: true }));

  const guide = [
    '',
    `Takt is up (${((Date.now() - started) / 1000).toFixed(1)} s). Where to look:`,
    `  edgeHub emulator        ${/ready (\S+) (\S+)/.exec(hubLine)?.slice(1, 3).join('  ') ?? ''}`,
    `  emulator control        ${controlUrl}   (GET /status, /upstream, /twins/<module>; see simulators/edge-hub/README.md)`,
    `  OPC UA plant            ${plantUrl}${diagUrl ? `   diagnostics ${diagUrl}` : ''}`,
    `  Azure emulators         Digital Twins ${azureField('dt')}  Event Grid ${azureField('eg')}`,
    `                          Service Bus ${azureField('sb').split(';')[0] ?? ''}`,
    modules.length > 0
      ? `  modules                 ${modules.join(', ')}`
      : '  modules                 none yet (the orchestrator, connector, audit and cloud-bridge arrive with issues 5, 7, 8, 9)',
    ...(modules.includes('orchestrator')
      ? [
          `  orchestrator API        http://${host}:8080   (health: /healthz; user admin, password in ${join(dataDir, 'admin-password')})`,
        ]
      : []),
    ...modules.map((m, i) => `  metrics ${m.padEnd(15)} http://${host}:${9601 + i}/metrics`),
    '',
    `  Manifest the emulator reads: ${manifest} (rendered from deployment/deployment.template.json)`,
    ...(modules.includes('orchestrator')
      ? [
          '',
          'Run a batch (the sample workflow deployment/workflows/batch.json is deployed through the manifest):',
          '  alias takt="node --conditions=takt-source --import tsx scripts/takt.ts"',
          '  takt user-add sue --roles supervisor,operator --password <pw>   # a supervisor, as admin',
          '  takt start-batch --order ORD-1 --recipe small     # service-side direct method startWorkflow',
          '  takt instances                                     # find the instance; it waits for approval',
          '  takt approve <instanceId> --user sue --password <pw> --meaning "Batch released" --reason "sample in spec"',
          '  takt audit --instance <instanceId>   ·   takt verify   ·   takt upstream   ·   takt status',
          '  takt tasks   ·   takt resolve <instanceId> --task <taskId> --outcome succeeded|retry|failed   # a command in doubt',
        ]
      : []),
    `  Data (SQLite, certificates): ${dataDir}`,
    '  Stop with Ctrl-C.',
    '',
  ];
  for (const line of guide) out(line);
  if (args.check) {
    await stopAll();
    const codes = await Promise.all(procs.map((p) => p.exited));
    out(`stopped: ${procs.map((p, i) => `${p.name}=${String(codes[i])}`).join(' ')}`);
    process.exit(codes.every((c) => c === 0) ? 0 : 1);
  }
  // Any process that ends on its own ends the run: a half-running suite misleads.
  const first = await Promise.race(procs.map((p) => p.exited.then((code) => ({ name: p.name, code }))));
  if (!stopping) {
    out(`${first.name} exited (${String(first.code)}); stopping everything`);
    await stopAll();
    process.exit(1);
  }
}

main().catch(async (error: unknown) => {
  out(`npm start failed: ${error instanceof Error ? error.message : String(error)}`);
  await stopAll();
  process.exit(1);
});
