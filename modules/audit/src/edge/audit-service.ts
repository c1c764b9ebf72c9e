/**
 * The audit module's behaviour, independent of the transport: the `records` input, the direct
 * methods and pruning. `audit-module.ts` wires it to the SupervisedModuleClient.
 */
import { z } from 'zod';
import { type Logger, configProblems } from '@takt/edge-kit';
import type { AuditRecord } from '../domain/record.js';
import { AuditError } from '../errors.js';
import { buildBatchReport, renderBatchReportHtml } from '../report/batch-report.js';
import { type TextPage, pageText } from '../report/paging.js';
import {
  type AppendOutcome,
  type AuditStore,
  type QueryPage,
  type VerifyReport,
  validateRecord,
} from '../store/audit-store.js';
import { GroupWriter } from '../store/group-writer.js';

const seqNumber = z.number().int().min(1);
const isoTime = z.iso.datetime({ offset: true });

export const VerifyRequestSchema = z.object({ from: seqNumber.optional(), to: seqNumber.optional() }).strict();

export const QueryRequestSchema = z
  .object({
    instanceId: z.string().min(1).optional(),
    batchId: z.string().min(1).optional(),
    actor: z.string().min(1).optional(),
    action: z.string().min(1).optional(),
    from: isoTime.optional(),
    to: isoTime.optional(),
    afterSeq: z.number().int().min(0).optional(),
    limit: z.number().int().min(1).max(1_000).optional(),
  })
  .strict();

export const ExportRequestSchema = z
  .object({
    batchId: z.string().min(1),
    format: z.enum(['json', 'html']).default('html'),
    offset: z.number().int().min(0).default(0),
    maxBytes: z.number().int().min(1_024).max(100_000).default(100_000),
  })
  .strict();

function parseRequest<S extends z.ZodType>(schema: S, payload: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(payload ?? {});
  if (parsed.success) return parsed.data;
  const problems = configProblems(parsed.error);
  throw new AuditError('AUDIT_QUERY_INVALID', `${what}: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, {
    details: { problems },
  });
}

/** Counters the module exposes as metrics and in `status`. */
export interface AuditStats {
  appended: number;
  duplicates: number;
  parked: number;
  commits: number;
}

export interface AuditServiceOptions {
  store: AuditStore;
  logger: Logger;
  /**
   * Called when an input message could not be committed (disk full, I/O error). The input must not be
   * acknowledged to edgeHub: main.ts exits at once, so edgeHub delivers it again after the restart.
   */
  onStoreFailure: (error: unknown) => void;
  onCommit?: (records: number, durationMs: number) => void;
}

/** What the `records` input accepts: one record, an array of records, or `{ records: [...] }`. */
function recordsOf(body: unknown): unknown[] {
  if (Array.isArray(body)) return body;
  if (typeof body === 'object' && body !== null && Array.isArray((body as { records?: unknown }).records)) {
    return (body as { records: unknown[] }).records;
  }
  return [body];
}

export class AuditService {
  readonly store: AuditStore;
  readonly writer: GroupWriter;
  readonly stats: AuditStats = { appended: 0, duplicates: 0, parked: 0, commits: 0 };
  private readonly logger: Logger;
  private verifying = 0;
  private exportCache: { key: string; text: string } | undefined;

  constructor(private readonly options: AuditServiceOptions) {
    this.store = options.store;
    this.logger = options.logger.child({ component: 'audit' });
    this.writer = new GroupWriter(options.store, {
      onCommit: (records, durationMs) => {
        this.stats.commits += 1;
        options.onCommit?.(records, durationMs);
      },
    });
  }

  private count(outcomes: readonly AppendOutcome[]): void {
    for (const o of outcomes) {
      if (o.duplicate) this.stats.duplicates += 1;
      else this.stats.appended += 1;
    }
  }

  /**
   * The `records` input. Synchronous on purpose: the SDK acknowledges the MQTT message (PUBACK) right
   * after this returns, so the records are committed (fsync'd) before edgeHub forgets them. Bad
   * records are parked with their reason and a chained `audit.record.parked` record; nothing throws
   * except a store failure, which goes to `onStoreFailure`.
   */
  onRecordsInput(body: Buffer, meta: { messageId: string | undefined; from: string | undefined }): void {
    const origin = `input:records${meta.from ? `:${meta.from}` : ''}`;
    try {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch {
        this.parkAndRecord(
          origin,
          meta.messageId,
          [{ path: '(root)', message: 'body is not JSON' }],
          body.toString('utf8'),
        );
        return;
      }
      const items = recordsOf(parsed);
      const valid: AuditRecord[] = [];
      const invalid: { index: number; item: unknown; problems: { path: string; message: string }[] }[] = [];
      items.forEach((item, index) => {
        const result = validateRecord(item);
        if (result.ok) valid.push(result.record);
        else invalid.push({ index, item, problems: result.problems });
      });
      this.store.transaction(() => {
        this.count(this.store.appendMany(valid));
        for (const bad of invalid) {
          this.parkAndRecord(origin, meta.messageId, bad.problems, JSON.stringify(bad.item) ?? 'undefined', bad.index);
        }
      });
    } catch (error) {
      this.logger.fatal('could not commit input records; not acknowledging them', {
        code: 'AUDIT_STORE_FAILED',
        messageId: meta.messageId,
        error,
      });
      this.options.onStoreFailure(error);
      throw error;
    }
  }

  private parkAndRecord(
    origin: string,
    messageId: string | undefined,
    problems: { path: string; message: string }[],
    body: string,
    index?: number,
  ): void {
    this.store.transaction(() => {
      const id = this.store.park(origin, messageId, 'AUDIT_RECORD_INVALID', problems, body);
      this.store.appendOwn(
        'audit.record.parked',
        { type: 'parked-record', id: String(id) },
        {
          origin,
          messageId: messageId ?? '',
          index: index ?? 0,
          problems: problems
            .slice(0, 10)
            .map((p) => `${p.path}: ${p.message}`)
            .join('; ')
            .slice(0, 2_000),
        },
        'record refused: it does not match the audit record schema',
      );
    });
    this.stats.parked += 1;
    this.logger.warn('audit record parked', {
      code: 'AUDIT_RECORD_INVALID',
      origin,
      messageId,
      problems: problems.slice(0, 5),
    });
  }

  /** The `record` method: one record, or `{ records: [...] }` (all or nothing). Resolves after commit. */
  async record(payload: unknown): Promise<unknown> {
    const many =
      typeof payload === 'object' && payload !== null && Array.isArray((payload as { records?: unknown }).records);
    const items = many ? (payload as { records: unknown[] }).records : [payload];
    if (items.length === 0 || items.length > 1_000) {
      throw new AuditError('AUDIT_RECORD_INVALID', 'records must hold 1 to 1,000 records', {
        details: { problems: [{ path: 'records', message: 'must hold 1 to 1,000 records' }] },
      });
    }
    const records: AuditRecord[] = [];
    const problems: { path: string; message: string }[] = [];
    items.forEach((item, i) => {
      const result = validateRecord(item);
      if (result.ok) records.push(result.record);
      else
        problems.push(
          ...result.problems.map((p) => ({ path: many ? `records.${i}.${p.path}` : p.path, message: p.message })),
        );
    });
    if (problems.length > 0) {
      throw new AuditError(
        'AUDIT_RECORD_INVALID',
        `audit record refused: ${problems
          .slice(0, 10)
          .map((p) => `${p.path}: ${p.message}`)
          .join('; ')}`,
        { details: { problems: problems.slice(0, 50) } },
      );
    }
    const outcomes = await Promise.all(records.map((r) => this.writer.submit(r)));
    this.count(outcomes);
    return many ? { results: outcomes } : outcomes[0];
  }

  /** The `verifyChain` method: checks in chunks, yielding to the event loop between them. */
  async verifyChain(payload: unknown): Promise<VerifyReport> {
    const request = parseRequest(VerifyRequestSchema, payload, 'verifyChain');
    this.verifying += 1;
    try {
      const steps = this.store.verifySteps({ from: request.from, to: request.to });
      // Bounded: the generator yields once per chunk of the (finite) range.
      for (;;) {
        const step = steps.next();
        if (step.done) return step.value;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } finally {
      this.verifying -= 1;
    }
  }

  /** The `query` method. */
  query(payload: unknown): QueryPage {
    const request = parseRequest(QueryRequestSchema, payload, 'query');
    const fromMs = request.from === undefined ? undefined : Date.parse(request.from);
    const toMs = request.to === undefined ? undefined : Date.parse(request.to);
    if (fromMs !== undefined && toMs !== undefined && fromMs > toMs) {
      throw new AuditError('AUDIT_QUERY_INVALID', 'query: from is after to', {
        details: { problems: [{ path: 'from', message: 'must not be after to' }] },
      });
    }
    return this.store.query({
      instanceId: request.instanceId,
      batchId: request.batchId,
      actorId: request.actor,
      action: request.action,
      fromMs,
      toMs,
      afterSeq: request.afterSeq,
      limit: request.limit,
    });
  }

  /** The batch report as text (JSON or HTML). */
  async exportBatchText(batchId: string, format: 'json' | 'html'): Promise<string> {
    const records = this.store.batchRecords(batchId);
    const first = records[0];
    const last = records[records.length - 1];
    if (!first || !last) {
      throw new AuditError('AUDIT_NOT_FOUND', `no audit records for batch ${batchId}`, { details: { batchId } });
    }
    const key = `${batchId}|${format}|${last.seq}|${records.length}`;
    if (this.exportCache?.key === key) return this.exportCache.text;
    const verification = await this.verifyChain({ from: first.seq, to: last.seq });
    const report = buildBatchReport(batchId, this.store.chainId, records, {
      status: verification.status,
      from: verification.from,
      to: verification.to,
      checked: verification.checked,
      macChecked: verification.macChecked,
      ...(verification.firstBroken ? { firstBroken: verification.firstBroken } : {}),
    });
    const text = format === 'html' ? renderBatchReportHtml(report) : JSON.stringify(report, null, 2);
    this.exportCache = { key, text };
    return text;
  }

  /** The `exportBatch` method: one page of the report. */
  async exportBatch(payload: unknown): Promise<TextPage & { batchId: string; format: string }> {
    const request = parseRequest(ExportRequestSchema, payload, 'exportBatch');
    const text = await this.exportBatchText(request.batchId, request.format);
    return { batchId: request.batchId, format: request.format, ...pageText(text, request.offset, request.maxBytes) };
  }

  /** The `status` method. */
  status(): Record<string, unknown> {
    const head = this.store.head;
    return {
      chain: this.store.chainId,
      headSeq: head.seq,
      headHash: head.hash,
      forwardedThroughSeq: this.store.forwardedThroughSeq(),
      forwardPending: this.store.outbox?.size() ?? 0,
      mac: this.store.macEnabled,
      prunedThroughSeq: this.store.latestAnchor()?.through_seq ?? 0,
      ...this.stats,
    };
  }

  /** One pruning round (skipped while a verification runs). */
  prune(retentionMs: number, batchSize: number): number {
    if (this.verifying > 0) return 0;
    let total = 0;
    // Bounded: at most 100 transactions per round.
    for (let round = 0; round < 100; round += 1) {
      const result = this.store.prune({ retentionMs, maxRecords: batchSize });
      total += result.pruned;
      if (result.pruned < batchSize) break;
    }
    if (total > 0) this.logger.info('pruned forwarded audit records past retention', { pruned: total });
    return total;
  }

  /** Commits what is queued; idempotent. */
  close(): void {
    this.writer.close();
  }
}
