import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { onTestFinished } from 'vitest';
import { nodeOptionsWithGuard } from './egress.js';

/** Options for {@link spawnChild}. */
export interface SpawnChildOptions {
  /** Shown in messages and as the prefix of echoed output. */
  name?: string;
  cwd?: string;
  /** Added to the parent's environment (which already carries the egress guard in NODE_OPTIONS). */
  env?: Record<string, string | undefined>;
  /** Echo the child's output to the test's stderr as it comes (handy when debugging). Default false. */
  echo?: boolean;
  /** Stop the child when the current test finishes. Default true; false keeps it for the whole file. */
  stopAfterTest?: boolean;
}

/** A child process that is always cleaned up. */
export interface ChildHandle {
  readonly name: string;
  readonly pid: number;
  readonly process: ChildProcess;
  /** Everything written to stdout and stderr so far, interleaved. */
  output(): string;
  /** Resolves with the first output line matching `pattern` (already seen lines count). */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code (or the signal name) once the child has ended. */
  waitForExit(timeoutMs?: number): Promise<number | NodeJS.Signals>;
  /** Sends a signal to the child's whole process group. */
  signal(signal: NodeJS.Signals): void;
  /** SIGKILL the process group and wait for the exit. */
  kill(): Promise<number | NodeJS.Signals>;
  /** SIGTERM, then SIGKILL after `graceMs`; idempotent. */
  stop(graceMs?: number): Promise<number | NodeJS.Signals>;
}

const live = new Set<ChildHandle>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of live) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/**
 * Starts a process in its own process group with the egress guard preloaded. It is stopped when
 * the current test finishes (or when the worker exits), whatever happens in the test.
 */
export function spawnChild(command: string, args: readonly string[], options: SpawnChildOptions = {}): ChildHandle {
  installExitHook();
  const name = options.name ?? command;
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
  env['NODE_OPTIONS'] = nodeOptionsWithGuard(env['NODE_OPTIONS']);
  const child = spawn(command, args, {
    cwd: options.cwd,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not start ${name}: ${command} ${args.join(' ')}`);
  const pid = child.pid;
  let buffer = '';
  const lines: string[] = [];
  const lineWaiters = new Set<{ pattern: RegExp; resolve: (line: string) => void }>();
  let partial = '';
  const onData = (chunk: Buffer): void => {
    const text = chunk.toString('utf8');
    buffer += text;
    if (options.echo) process.stderr.write(text.replace(/^(?=.)/gm, `[${name}] `));
    partial += text;
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      lines.push(line);
      for (const waiter of lineWaiters) {
        if (waiter.pattern.test(line)) {
          lineWaiters.delete(waiter);
          waiter.resolve(line);
        }
      }
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);

  let exitResult: number | NodeJS.Signals | undefined;
  const exited = new Promise<number | NodeJS.Signals>((resolve) => {
    child.once('exit', (code, signal) => {
      exitResult = code ?? signal ?? 'SIGKILL';
      live.delete(handle);
      resolve(exitResult);
    });
  });

  const withTimeout = <T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(
            `${name}: timed out after ${timeoutMs} ms waiting for ${what}\n--- output ---\n${buffer.slice(-4000)}`,
          ),
        );
      }, timeoutMs);
      promise.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });

  const sendToGroup = (sig: NodeJS.Signals): void => {
    if (exitResult !== undefined) return;
    try {
      process.kill(-pid, sig);
    } catch {
      // the group is gone already
    }
  };

  let stopping: Promise<number | NodeJS.Signals> | undefined;
  const handle: ChildHandle = {
    name,
    pid,
    process: child,
    output: () => buffer,
    waitForLine(pattern, timeoutMs = 20_000) {
      const seen = lines.find((line) => pattern.test(line));
      if (seen !== undefined) return Promise.resolve(seen);
      let waiter: { pattern: RegExp; resolve: (line: string) => void } | undefined;
      const found = new Promise<string>((resolve, reject) => {
        waiter = { pattern, resolve };
        lineWaiters.add(waiter);
        void exited.then((code) => {
          if (waiter && lineWaiters.has(waiter)) {
            lineWaiters.delete(waiter);
            reject(
              new Error(
                `${name} exited (${String(code)}) before printing ${String(pattern)}\n--- output ---\n${buffer.slice(-4000)}`,
              ),
            );
          }
        });
      });
      return withTimeout(found, timeoutMs, `a line matching ${String(pattern)}`).finally(() => {
        if (waiter) lineWaiters.delete(waiter);
      });
    },
    waitForExit(timeoutMs = 20_000) {
      return withTimeout(exited, timeoutMs, 'exit');
    },
    signal: sendToGroup,
    async kill() {
      sendToGroup('SIGKILL');
      return withTimeout(exited, 10_000, 'exit after SIGKILL');
    },
    stop(graceMs = 5_000) {
      stopping ??= (async () => {
        if (exitResult !== undefined) return exitResult;
        sendToGroup('SIGTERM');
        const timer = setTimeout(() => sendToGroup('SIGKILL'), graceMs);
        try {
          return await withTimeout(exited, graceMs + 10_000, 'exit after SIGTERM');
        } finally {
          clearTimeout(timer);
        }
      })();
      return stopping;
    },
  };
  live.add(handle);
  if (options.stopAfterTest ?? true) {
    try {
      onTestFinished(async () => {
        await handle.stop();
      });
    } catch {
      // not inside a test (beforeAll): the caller stops it in afterAll; the exit hook is the last resort
    }
  }
  return handle;
}

const requireHere = createRequire(import.meta.url);

/** Node arguments that run a TypeScript entry point from source, as `npm start` does. */
export function tsNodeArgs(entry: string, args: readonly string[] = []): string[] {
  const tsxLoader = requireHere.resolve('tsx');
  return ['--conditions=takt-source', '--import', new URL(`file://${tsxLoader}`).href, entry, ...args];
}

/** Starts a TypeScript entry point in a child Node process (see {@link spawnChild}). */
export function spawnTs(entry: string, args: readonly string[] = [], options: SpawnChildOptions = {}): ChildHandle {
  return spawnChild(process.execPath, tsNodeArgs(entry, args), options);
}
