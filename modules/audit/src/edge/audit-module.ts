import {
  type BindResult,
  Counter,
  Gauge,
  Histogram,
  type Logger,
  type MethodDefinition,
  type Registry,
  SupervisedModuleClient,
  type SupervisedModuleClientOptions,
  defineMethod,
  parseConfig,
} from '@takt/edge-kit';
import { type Settings, SettingsSchema } from '../config.js';
import type { AuditStore } from '../store/audit-store.js';
import { AuditService } from './audit-service.js';

export interface AuditModuleOptions {
  store: AuditStore;
  logger: Logger;
  /** See {@link AuditServiceOptions.onStoreFailure}. */
  onStoreFailure: (error: unknown) => void;
  /** Prometheus registry to register the module's metrics in. */
  registry?: Registry;
  /** Overrides for the SupervisedModuleClient (tests pass `createClient`). */
  client?: Partial<SupervisedModuleClientOptions>;
}

const DAY_MS = 86_400_000;
/** How often the reported `chain` property is refreshed (when it changed). */
const REPORT_INTERVAL_MS = 60_000;

/**
 * The audit IoT Edge module: input `records`, methods `record`, `verifyChain`, `query`,
 * `exportBatch`, `status`; output `forward` (from the store's outbox, routed to `$upstream`);
 * twin desired `settings` (retention); pruning on a timer.
 *
 * @example
 * const audit = new AuditModule({ store, logger, onStoreFailure });
 * await lifecycle.add(audit);
 */
export class AuditModule {
  readonly name = 'audit';
  readonly service: AuditService;
  readonly client: SupervisedModuleClient;
  private settings: Settings = SettingsSchema.parse({});
  private pruneTimer: NodeJS.Timeout | undefined;
  private reportTimer: NodeJS.Timeout | undefined;
  private lastReported = '';
  private readonly logger: Logger;
  private readonly metrics: { sync(): void } | undefined;

  constructor(private readonly options: AuditModuleOptions) {
    this.logger = options.logger;
    const commitHistogram = options.registry
      ? new Histogram({
          name: 'takt_audit_commit_seconds',
          help: 'Duration of one group commit of audit records',
          buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5],
          registers: [options.registry],
        })
      : undefined;
    this.service = new AuditService({
      store: options.store,
      logger: options.logger,
      onStoreFailure: options.onStoreFailure,
      onCommit: (_records, durationMs) => commitHistogram?.observe(durationMs / 1000),
    });
    this.metrics = options.registry ? this.createMetrics(options.registry) : undefined;
    const methods: Record<string, MethodDefinition> = {
      record: defineMethod({ handler: (payload) => this.service.record(payload) }),
      verifyChain: defineMethod({ handler: (payload) => this.service.verifyChain(payload) }),
      query: defineMethod({ handler: (payload) => this.service.query(payload) }),
      exportBatch: defineMethod({ handler: (payload) => this.service.exportBatch(payload) }),
      status: defineMethod({ handler: () => this.service.status() }),
    };
    const outbox = options.store.outbox;
    this.client = new SupervisedModuleClient({
      logger: options.logger,
      ...(outbox ? { outbox } : {}),
      inputs: {
        records: (message) =>
          this.service.onRecordsInput(message.body, {
            messageId: message.messageId,
            from: message.connectionModuleId,
          }),
      },
      methods,
      twin: {
        properties: [
          {
            name: 'settings',
            mode: 'whole',
            validate: (value) => {
              const result = parseConfig(SettingsSchema, value ?? {});
              return result.ok
                ? { ok: true, value: result.value }
                : { ok: false, problems: result.problems.map((p) => `${p.path}: ${p.message}`) };
            },
          },
        ],
        onChange: (result) => this.onTwin(result),
      },
      ...options.client,
    });
  }

  private createMetrics(registry: Registry): { sync(): void } {
    const appended = new Counter({
      name: 'takt_audit_records_total',
      help: 'Audit records chained',
      registers: [registry],
    });
    const duplicates = new Counter({
      name: 'takt_audit_duplicates_total',
      help: 'Resent audit records ignored as duplicates',
      registers: [registry],
    });
    const parked = new Counter({
      name: 'takt_audit_parked_total',
      help: 'Invalid records parked',
      registers: [registry],
    });
    const head = new Gauge({
      name: 'takt_audit_head_seq',
      help: 'Highest chained sequence number',
      registers: [registry],
    });
    const forwarded = new Gauge({
      name: 'takt_audit_forwarded_seq',
      help: 'Highest sequence number handed to edgeHub for $upstream',
      registers: [registry],
    });
    const last = { appended: 0, duplicates: 0, parked: 0 };
    return {
      sync: () => {
        const s = this.service.stats;
        appended.inc(s.appended - last.appended);
        duplicates.inc(s.duplicates - last.duplicates);
        parked.inc(s.parked - last.parked);
        Object.assign(last, { appended: s.appended, duplicates: s.duplicates, parked: s.parked });
        head.set(this.options.store.head.seq);
        forwarded.set(this.options.store.forwardedThroughSeq());
      },
    };
  }

  private onTwin(result: BindResult): void {
    for (const change of result.accepted) {
      if (change.property !== 'settings') continue;
      this.settings = change.value as Settings;
      this.logger.info('settings applied', { ...this.settings });
      this.schedulePrune();
    }
  }

  private schedulePrune(): void {
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    this.pruneTimer = setInterval(() => this.runPrune(), this.settings.pruneIntervalS * 1000);
    this.pruneTimer.unref();
  }

  /** One pruning round with the current settings (also run on the timer). */
  runPrune(): number {
    try {
      const pruned = this.service.prune(this.settings.retentionDays * DAY_MS, this.settings.pruneBatchSize);
      this.metrics?.sync();
      return pruned;
    } catch (error) {
      this.logger.error('pruning failed; will try again at the next interval', { error });
      return 0;
    }
  }

  get currentSettings(): Settings {
    return this.settings;
  }

  /**
   * Reports the chain's state as the reported property `chain` (only when it changed): what an
   * operator or the cloud sees without calling a method.
   */
  async reportChain(): Promise<void> {
    const store = this.options.store;
    const chain = {
      id: store.chainId,
      headSeq: store.head.seq,
      forwardedThroughSeq: store.forwardedThroughSeq(),
      prunedThroughSeq: store.latestAnchor()?.through_seq ?? 0,
      mac: store.macEnabled,
      parked: this.service.stats.parked,
    };
    const text = JSON.stringify(chain);
    if (text === this.lastReported) return;
    try {
      await this.client.reportProperties({ chain });
      this.lastReported = text;
    } catch (error) {
      this.logger.warn('could not report the chain state; will try again', { error });
    }
  }

  async start(): Promise<void> {
    this.schedulePrune();
    await this.client.start();
    await this.reportChain();
    this.reportTimer = setInterval(() => void this.reportChain(), REPORT_INTERVAL_MS);
    this.reportTimer.unref();
    const head = this.options.store.head;
    this.logger.info('audit chain open', {
      chain: this.options.store.chainId,
      headSeq: head.seq,
      mac: this.options.store.macEnabled,
    });
    this.metrics?.sync();
  }

  /** Refreshes gauges (call before a scrape or periodically). */
  syncMetrics(): void {
    this.metrics?.sync();
  }

  async close(): Promise<void> {
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    if (this.reportTimer) clearInterval(this.reportTimer);
    this.pruneTimer = undefined;
    this.reportTimer = undefined;
    this.service.close();
    await this.client.close();
  }
}
