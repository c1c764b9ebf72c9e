import type { DigitalTwinsClient } from '@azure/digital-twins-core';
import { type Logger, type OutboxMessage, sleep } from '@takt/edge-kit';
import { StatusEventSchema } from '../domain/contracts.js';
import { type RelationshipSpec, type TwinSpec, propertiesFor, structureFor } from '../domain/twin-model.js';
import { CloudBridgeError } from '../errors.js';
import { statusOf, translateSinkError } from './errors.js';
import type { Sink } from './sink.js';

/** The part of DigitalTwinsClient the sink uses (fakes in unit tests implement this). */
export type DigitalTwinsApi = Pick<
  DigitalTwinsClient,
  'getDigitalTwin' | 'upsertDigitalTwin' | 'updateDigitalTwin' | 'upsertRelationship' | 'createModels' | 'listModels'
>;

export interface DigitalTwinsSinkOptions {
  client: DigitalTwinsApi;
  /** DTDL models (JSON objects with `@id`) created if missing. */
  models: readonly Record<string, unknown>[];
  logger: Logger;
  /**
   * Least time between two writes to one twin. Default 125 ms: at most 8 writes per second, under the
   * service's 10 per second per twin (not adjustable) with room for the creation write.
   */
  minWriteIntervalMs?: number;
  now?: () => number;
}

const MAX_ETAG_ATTEMPTS = 4;

function pointer(key: string): string {
  return `/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
}

/**
 * Applies status events to Azure Digital Twins: models created if missing, twins and relationships
 * upserted once per process, property changes coalesced per twin (one JSON Patch per twin and batch, at
 * most one write per `minWriteIntervalMs`), written with `If-Match`; a 412 re-reads the twin and
 * re-applies on top of the fresh ETag — never a blind overwrite — and a run twin already at a newer
 * `seq` keeps its values.
 */
export class DigitalTwinsSink implements Sink {
  readonly name = 'digitalTwins' as const;
  private readonly logger: Logger;
  private readonly minWriteIntervalMs: number;
  private readonly now: () => number;
  private readonly etags = new Map<string, string>();
  private readonly known = new Set<string>();
  private readonly knownRelationships = new Set<string>();
  private readonly lastWriteAt = new Map<string, number>();
  private modelsReady = false;
  /** Writes per twin (for metrics and tests). */
  readonly writes = new Map<string, number>();

  constructor(private readonly options: DigitalTwinsSinkOptions) {
    this.logger = options.logger.child({ component: 'sink:digital-twins' });
    this.minWriteIntervalMs = options.minWriteIntervalMs ?? 125;
    this.now = options.now ?? Date.now;
  }

  async deliver(batch: readonly OutboxMessage[], signal: AbortSignal): Promise<void> {
    try {
      await this.ensureModels();
      const pending = new Map<string, Record<string, unknown>>();
      for (const message of batch) {
        const event = StatusEventSchema.parse(JSON.parse(message.body.toString('utf8')));
        const { twins, relationships } = structureFor(event);
        for (const twin of twins) await this.ensureTwin(twin, signal);
        for (const rel of relationships) await this.ensureRelationship(rel);
        for (const [id, props] of propertiesFor(event)) pending.set(id, { ...(pending.get(id) ?? {}), ...props });
      }
      // Twins that may be written now first, so one throttled twin does not hold up the others.
      const order = [...pending.keys()].sort((a, b) => this.readyAt(a) - this.readyAt(b));
      for (const id of order) await this.patch(id, pending.get(id) ?? {}, signal);
    } catch (error) {
      throw translateSinkError('Digital Twins', error);
    }
  }

  async close(): Promise<void> {
    // the SDK client holds no connection that needs closing
  }

  private readyAt(id: string): number {
    return (this.lastWriteAt.get(id) ?? 0) + this.minWriteIntervalMs;
  }

  private async throttle(id: string, signal: AbortSignal): Promise<void> {
    const waitMs = this.readyAt(id) - this.now();
    if (waitMs > 0) await sleep(waitMs, signal);
  }

  private wrote(id: string, etag: string | undefined): void {
    this.lastWriteAt.set(id, this.now());
    this.writes.set(id, (this.writes.get(id) ?? 0) + 1);
    if (etag) this.etags.set(id, etag);
    else this.etags.delete(id);
  }

  private async ensureModels(): Promise<void> {
    if (this.modelsReady) return;
    const existing = new Set<string>();
    for await (const model of this.options.client.listModels()) existing.add(model.id);
    const missing = this.options.models.filter((m) => !existing.has(String(m['@id'])));
    if (missing.length > 0) {
      await this.options.client.createModels([...missing]);
      this.logger.info('created Digital Twins models', { models: missing.map((m) => m['@id']) });
    }
    this.modelsReady = true;
  }

  private async ensureTwin(spec: TwinSpec, signal: AbortSignal): Promise<void> {
    if (this.known.has(spec.id)) return;
    await this.throttle(spec.id, signal);
    try {
      const created = await this.options.client.upsertDigitalTwin(
        spec.id,
        JSON.stringify({ $metadata: { $model: spec.model }, ...spec.initial }),
        { ifNoneMatch: '*' },
      );
      this.wrote(spec.id, created.etag);
    } catch (error) {
      if (statusOf(error) !== 412) throw error; // 412: it exists already, which is what we want
    }
    this.known.add(spec.id);
  }

  private async ensureRelationship(rel: RelationshipSpec): Promise<void> {
    const key = `${rel.sourceId}/${rel.relationshipId}`;
    if (this.knownRelationships.has(key)) return;
    try {
      await this.options.client.upsertRelationship(
        rel.sourceId,
        rel.relationshipId,
        { $relationshipName: rel.name, $targetId: rel.targetId },
        { ifNoneMatch: '*' },
      );
    } catch (error) {
      if (statusOf(error) !== 412) throw error;
    }
    this.knownRelationships.add(key);
  }

  private async read(id: string): Promise<Record<string, unknown>> {
    const twin = await this.options.client.getDigitalTwin(id);
    if (twin.etag) this.etags.set(id, twin.etag);
    return (twin.body ?? {}) as Record<string, unknown>;
  }

  private async patch(id: string, props: Record<string, unknown>, signal: AbortSignal): Promise<void> {
    for (let attempt = 1; attempt <= MAX_ETAG_ATTEMPTS; attempt += 1) {
      let etag = this.etags.get(id);
      if (etag === undefined) {
        const current = await this.read(id);
        if (this.isStale(current, props)) return;
        etag = this.etags.get(id);
      }
      const ops = Object.entries(props).map(([key, value]) => ({ op: 'add', path: pointer(key), value }));
      await this.throttle(id, signal);
      try {
        const result = await this.options.client.updateDigitalTwin(id, ops, etag ? { ifMatch: etag } : {});
        this.wrote(id, result.etag);
        return;
      } catch (error) {
        const status = statusOf(error);
        if (status === 412) {
          // Someone else wrote the twin: re-read it and apply on top of what is there now.
          this.etags.delete(id);
          const current = await this.read(id);
          if (this.isStale(current, props)) return;
          this.logger.debug('ETag was stale; re-read the twin', { twin: id, attempt });
          continue;
        }
        if (status === 404) {
          this.known.delete(id);
          this.etags.delete(id);
        }
        throw error;
      }
    }
    throw new CloudBridgeError('TWIN_CONFLICT', `twin ${id} kept changing under its ETag`, { details: { twin: id } });
  }

  /** True when the twin already holds a newer run state (`seq`) than this patch. */
  private isStale(current: Record<string, unknown>, props: Record<string, unknown>): boolean {
    const have = current['seq'];
    const want = props['seq'];
    return typeof have === 'number' && typeof want === 'number' && have >= want && have > 0;
  }
}
