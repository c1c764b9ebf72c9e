import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** An outgoing attempt the guard refused. */
export interface EgressViolation {
  kind: string;
  target: string;
  pid: number;
  at: string;
}

interface GuardApi {
  isLoopbackHost(host: string): boolean;
  takeViolations(): EgressViolation[];
}

/** Absolute path of the CommonJS guard, for `node --require`. */
export const egressGuardPath = fileURLToPath(new URL('../egress-guard.cjs', import.meta.url));

/** Loads the guard into this process (idempotent) and returns its API. */
export function loadEgressGuard(): GuardApi {
  const require = createRequire(import.meta.url);
  return require(egressGuardPath) as GuardApi;
}

/** NODE_OPTIONS with the guard preloaded, keeping whatever options are already there. */
export function nodeOptionsWithGuard(existing: string | undefined = process.env['NODE_OPTIONS']): string {
  const preload = `--require ${egressGuardPath}`;
  if (existing?.includes(egressGuardPath)) return existing;
  return existing ? `${existing} ${preload}` : preload;
}

export interface WorkerEgressGuard {
  /** Forgets what was recorded before the current test. */
  reset(): void;
  /** Returns and forgets what this worker and its children tried (for tests of the guard itself). */
  take(): EgressViolation[];
  /** Throws, naming every refused address, if this worker or its children tried to leave loopback. */
  assertNoViolations(): void;
}

/**
 * Installs the guard in this test worker, routes child processes' reports to a per-worker log file and
 * preloads the guard into every child through NODE_OPTIONS.
 */
export function installEgressGuardForWorker(): WorkerEgressGuard {
  if (workerGuard) return workerGuard;
  const dir = mkdtempSync(join(tmpdir(), 'takt-egress-'));
  const logFile = join(dir, 'violations.jsonl');
  writeFileSync(logFile, '');
  process.env['TAKT_EGRESS_LOG'] = logFile;
  process.env['NODE_OPTIONS'] = nodeOptionsWithGuard();
  const guard = loadEgressGuard();
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));

  const readChildViolations = (): EgressViolation[] => {
    const text = readFileSync(logFile, 'utf8');
    writeFileSync(logFile, '');
    return text
      .split('\n')
      .filter((line) => line.trim().length > 0)
      .map((line) => JSON.parse(line) as EgressViolation)
      .filter((v) => v.pid !== process.pid);
  };

  const take = (): EgressViolation[] => [...guard.takeViolations(), ...readChildViolations()];
  workerGuard = {
    reset() {
      take();
    },
    take,
    assertNoViolations() {
      const all = take();
      if (all.length === 0) return;
      const list = all.map((v) => `${v.kind} to ${v.target} (pid ${v.pid})`).join('; ');
      throw new Error(
        `EGRESS_BLOCKED: this test tried to reach beyond loopback: ${list}. ` +
          'Tests may only talk to 127.0.0.0/8, ::1 or localhost.',
      );
    },
  };
  return workerGuard;
}

let workerGuard: WorkerEgressGuard | undefined;

/** The guard installed in this test worker by the Vitest setup, if any. */
export function workerEgressGuard(): WorkerEgressGuard | undefined {
  return workerGuard;
}
