/**
 * Definitions by reference (`{id, version, uri, sha256}`): fetched once (`https:`, `file:` or a path
 * relative to the data directory), verified against the SHA-256 of the bytes, cached on disk under
 * `<dataDir>/definitions/<sha256>.json` (written to a temporary file, fsync'd, renamed), and from then
 * on read from the cache — also offline and after restarts.
 */
import { createHash, randomUUID } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkflowReference } from '@takt/workflow';

const MAX_BYTES = 1024 * 1024;
const SHA256 = /^[0-9a-f]{64}$/;

export class ReferenceCache {
  private readonly dir: string;
  private readonly inflight = new Set<string>();

  constructor(
    private readonly dataDir: string,
    private readonly timeoutMs = 30_000,
  ) {
    this.dir = join(dataDir, 'definitions');
  }

  /** The verified document, if it is in the cache. */
  get(reference: WorkflowReference): unknown {
    const sha = reference.sha256.toLowerCase();
    if (!SHA256.test(sha)) return undefined;
    let bytes: Buffer;
    try {
      bytes = readFileSync(join(this.dir, `${sha}.json`));
    } catch {
      return undefined; // not cached yet
    }
    if (createHash('sha256').update(bytes).digest('hex') !== sha) return undefined;
    return JSON.parse(bytes.toString('utf8')) as unknown;
  }

  /**
   * Fetches, verifies and caches a reference (once at a time per sha256). Resolves when it is in the
   * cache; rejects with a problem line (`REFERENCE_FETCH_FAILED …` / `REFERENCE_SHA256_MISMATCH …`).
   */
  async fetch(reference: WorkflowReference): Promise<boolean> {
    const sha = reference.sha256.toLowerCase();
    if (this.inflight.has(sha)) return false;
    this.inflight.add(sha);
    try {
      let bytes: Buffer;
      try {
        bytes = await this.load(reference.uri);
      } catch (error) {
        throw new Error(`REFERENCE_FETCH_FAILED /uri: ${error instanceof Error ? error.message : String(error)}`, {
          cause: error,
        });
      }
      const actual = createHash('sha256').update(bytes).digest('hex');
      if (actual !== sha) throw new Error(`REFERENCE_SHA256_MISMATCH /sha256: the document's SHA-256 is ${actual}`);
      JSON.parse(bytes.toString('utf8'));
      this.store(sha, bytes);
      return true;
    } finally {
      this.inflight.delete(sha);
    }
  }

  private async load(uri: string): Promise<Buffer> {
    if (uri.startsWith('https:')) {
      const response = await fetch(uri, { signal: AbortSignal.timeout(this.timeoutMs), redirect: 'error' });
      if (!response.ok) throw new Error(`GET ${uri} answered ${response.status}`);
      const bytes = Buffer.from(await response.arrayBuffer());
      if (bytes.length > MAX_BYTES) throw new Error(`${uri} is larger than ${MAX_BYTES} bytes`);
      return bytes;
    }
    const path = uri.startsWith('file:') ? fileURLToPath(uri) : isAbsolute(uri) ? uri : resolve(this.dataDir, uri);
    const bytes = await readFile(path);
    if (bytes.length > MAX_BYTES) throw new Error(`${uri} is larger than ${MAX_BYTES} bytes`);
    return bytes;
  }

  private store(sha: string, bytes: Buffer): void {
    mkdirSync(this.dir, { recursive: true });
    const target = join(this.dir, `${sha}.json`);
    const temp = `${target}.${randomUUID()}.tmp`;
    const fd = openSync(temp, 'w');
    try {
      writeSync(fd, bytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, target);
  }
}
