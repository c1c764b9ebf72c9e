import type { AuditRecord } from '../domain/record.js';
import type { AppendOutcome, AuditStore } from './audit-store.js';

interface Pending {
  record: AuditRecord;
  resolve(outcome: AppendOutcome): void;
  reject(error: unknown): void;
}

export interface GroupWriterOptions {
  /** Most records in one transaction. Default 2,000. */
  maxBatch?: number;
  /** Called after each commit (metrics). */
  onCommit?: (records: number, durationMs: number) => void;
}

/**
 * Group commit: records submitted during one event-loop turn are committed together in one
 * transaction (one fsync) at the end of the turn; each submitter's promise resolves only after that
 * commit, so an acknowledgement always means "on disk".
 *
 * @example
 * const writer = new GroupWriter(store);
 * const { seq } = await writer.submit(store.validate(input)); // durable now
 */
export class GroupWriter {
  private queue: Pending[] = [];
  private scheduled = false;
  private closed = false;
  private readonly maxBatch: number;

  constructor(
    private readonly store: AuditStore,
    private readonly options: GroupWriterOptions = {},
  ) {
    this.maxBatch = Math.max(1, options.maxBatch ?? 2_000);
  }

  /** Queues a validated record; resolves once it is committed (or with the stored one for a duplicate). */
  submit(record: AuditRecord): Promise<AppendOutcome> {
    return new Promise<AppendOutcome>((resolve, reject) => {
      if (this.closed) {
        reject(new Error('the audit writer is closed'));
        return;
      }
      this.queue.push({ record, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Records waiting for the next commit. */
  get pending(): number {
    return this.queue.length;
  }

  /** Commits what is queued now (also used on close). */
  flush(): void {
    this.scheduled = false;
    // Bounded: each round takes at most maxBatch records off a queue that only shrinks here.
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      const started = performance.now();
      let outcomes: AppendOutcome[];
      try {
        outcomes = this.store.appendMany(batch.map((p) => p.record));
      } catch (error) {
        for (const p of batch) p.reject(error);
        continue;
      }
      this.options.onCommit?.(batch.length, performance.now() - started);
      batch.forEach((p, i) => p.resolve(outcomes[i] as AppendOutcome));
    }
  }

  /** Commits what is queued and refuses further records; idempotent. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
  }
}
