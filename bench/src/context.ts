import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One measured figure: one JSON line (DESIGN.md §5). */
export interface BenchResult {
  /** `takt`, or the peer's name and version (`node-red@4.1.15`). */
  system: string;
  case: string;
  metric: string;
  value: number;
  unit: string;
}

/** What every benchmark gets. */
export interface BenchContext {
  /** The benchmark's name (its file name): `engine`, `edge`, … */
  readonly name: string;
  /** Folder for scratch files (databases, peer installs); removed by nobody, under bench/.peers or tmp. */
  readonly resultsFile: string;
  /** Prints the line on stdout and appends it to bench/results/NAME.jsonl. */
  record(result: BenchResult): void;
  /** Progress and notes: stderr, so stdout stays pure JSON lines. */
  note(message: string): void;
}

export const benchRoot = fileURLToPath(new URL('..', import.meta.url));

export function createBenchContext(name: string): BenchContext {
  const resultsFile = join(benchRoot, 'results', `${name}.jsonl`);
  mkdirSync(dirname(resultsFile), { recursive: true });
  return {
    name,
    resultsFile,
    record(result) {
      const line = JSON.stringify({ bench: name, ...result, at: new Date().toISOString() });
      process.stdout.write(`${line}\n`);
      appendFileSync(resultsFile, `${line}\n`);
    },
    note(message) {
      process.stderr.write(`[bench:${name}] ${message}\n`);
    },
  };
}

/** Nearest-rank percentile of an ascending-sorted array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? Number.NaN;
}
