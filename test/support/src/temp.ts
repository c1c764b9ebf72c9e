import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A temporary folder that removes itself. */
export interface TempDir {
  readonly path: string;
  /** Joins segments onto the folder path. */
  join(...segments: string[]): string;
  /** Removes the folder and everything in it; idempotent. */
  remove(): Promise<void>;
}

/**
 * Creates a fresh folder under the OS temp dir. Pair it with `onTestFinished(() => dir.remove())`
 * or use {@link useTempDir}.
 */
export async function createTempDir(prefix = 'takt-test-'): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  let removed = false;
  return {
    path,
    join: (...segments) => join(path, ...segments),
    async remove() {
      if (removed) return;
      removed = true;
      await rm(path, { recursive: true, force: true, maxRetries: 3 });
    },
  };
}
