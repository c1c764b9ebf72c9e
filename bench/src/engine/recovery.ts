/** Kill -9 with N in flight, restart on the same database, time until all are done (Takt). */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const child = fileURLToPath(new URL('./recovery-child.ts', import.meta.url));
const tsx = createRequire(import.meta.url).resolve('tsx');

/** Starts a TypeScript child (like `npm start` does) and lets the caller wait for a stdout line. */
export function startTs(
  script: string,
  args: string[],
): { proc: ChildProcess; line: (pattern: RegExp, timeoutMs: number) => Promise<string> } {
  const proc = spawn(
    process.execPath,
    ['--conditions=takt-source', '--import', new URL(`file://${tsx}`).href, script, ...args],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let buffer = '';
  proc.stdout?.on('data', (chunk: Buffer) => (buffer += chunk.toString('utf8')));
  const line = (pattern: RegExp, timeoutMs: number): Promise<string> =>
    new Promise((resolve, reject) => {
      const deadline = Date.now() + timeoutMs;
      const poll = (): void => {
        const found = buffer.split('\n').find((l) => pattern.test(l));
        if (found !== undefined) return resolve(found);
        if (Date.now() > deadline || proc.exitCode !== null)
          return reject(new Error(`no ${String(pattern)}: ${buffer}`));
        setTimeout(poll, 5);
      };
      poll();
    });
  return { proc, line };
}

export interface RecoveryFigures {
  resumed: number;
  /** From opening the runner to every instance done (replay, re-dispatch, remaining steps). */
  recoveryMs: number;
  /** From spawning the process (Node + TypeScript loader start-up included) to every instance done. */
  restartToDoneMs: number;
  wrong: number;
}

export async function measureRecovery(count = 1000): Promise<RecoveryFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'takt-bench-recovery-'));
  const file = join(dir, 'engine.db');
  try {
    const load = startTs(child, ['load', file, String(count)]);
    await load.line(/^INFLIGHT /, 60_000);
    load.proc.kill('SIGKILL');
    await new Promise((resolve) => load.proc.once('exit', resolve));
    const spawnedAt = performance.now();
    const resume = startTs(child, ['resume', file, String(count)]);
    const line = await resume.line(/^RECOVERED /, 60_000);
    const restartToDoneMs = performance.now() - spawnedAt;
    await new Promise((resolve) => resume.proc.once('exit', resolve));
    const result = JSON.parse(line.slice('RECOVERED '.length)) as { resumed: number; doneMs: number; wrong: number };
    return { resumed: result.resumed, recoveryMs: result.doneMs, restartToDoneMs, wrong: result.wrong };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
