import { type ChildProcess, fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { ParentCommand, WorkerReport } from './protocol.js';

const requireHere = createRequire(import.meta.url);
const workerPath = fileURLToPath(new URL('./worker.ts', import.meta.url));

/** A module worker process and a way to wait for its next report of a kind. */
export interface ModuleWorker {
  send(command: ParentCommand): void;
  next<T extends WorkerReport['type']>(type: T, timeoutMs: number): Promise<Extract<WorkerReport, { type: T }>>;
  stop(): Promise<void>;
}

export async function startWorker(name: string, env: Record<string, string>): Promise<ModuleWorker> {
  const tsx = new URL(`file://${requireHere.resolve('tsx')}`).href;
  const child: ChildProcess = fork(workerPath, [], {
    execArgv: ['--conditions=takt-source', '--import', tsx],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const reports: WorkerReport[] = [];
  const waiters = new Set<() => void>();
  child.on('message', (report: WorkerReport) => {
    reports.push(report);
    for (const wake of [...waiters]) wake();
  });
  const worker: ModuleWorker = {
    send: (command) => {
      child.send(command);
    },
    next: (type, timeoutMs) =>
      new Promise((resolve, reject) => {
        const check = (): boolean => {
          const error = reports.findIndex((r) => r.type === 'error');
          if (error >= 0) {
            const [report] = reports.splice(error, 1);
            finish();
            reject(new Error(`${name}: ${(report as { message: string }).message}`));
            return true;
          }
          const index = reports.findIndex((r) => r.type === type);
          if (index < 0) return false;
          const [report] = reports.splice(index, 1);
          finish();
          resolve(report as Extract<WorkerReport, { type: typeof type }>);
          return true;
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`${name}: no '${type}' report within ${timeoutMs} ms`));
        }, timeoutMs);
        const wake = (): void => {
          check();
        };
        const finish = (): void => {
          clearTimeout(timer);
          waiters.delete(wake);
        };
        if (!check()) waiters.add(wake);
      }),
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.send({ type: 'close' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
  await worker.next('ready', 30_000);
  return worker;
}
