/**
 * Tags: the latest value of every tag the orchestrator watches, which instances wait on which tags
 * (condition waits, interlocks), the tag triggers of deployed workflows (edge-triggered, debounced,
 * deadband), and the connector watches that keep the values coming (input `tags`).
 */
import { createHash } from 'node:crypto';
import { type Logger, errorMessage } from '@takt/edge-kit';
import {
  type Json,
  type JsonObject,
  TagTriggerFilter,
  type TagTrigger,
  type WorkflowDefinition,
  compileExpression,
  evaluateTemplate,
  isTruthy,
  toJson,
} from '@takt/workflow';
import type { ResolvedSettings } from '../domain/settings.js';
import type { ConnectorClient } from '../edge/connector.js';

/** The connector's `tags` output body. */
export interface TagMessage {
  endpointUrl?: string;
  nodeId: string;
  value: unknown;
  sourceTimestamp?: string;
  serverTimestamp?: string;
  statusCode?: unknown;
  watchId?: string;
}

export interface TagRouterOptions {
  logger: Logger;
  now: () => number;
  connector: ConnectorClient;
  settings: () => ResolvedSettings;
  deliver: (instanceId: string, values: JsonObject) => Promise<void>;
  trigger: (
    workflowId: string,
    request: { idempotencyKey: string; parameters?: JsonObject; trigger: string },
  ) => Promise<void>;
}

/** Retries of a failed connector watch (0.5 s doubling to 10 s: about a minute in all). */
const MAX_WATCH_RETRIES = 8;
const MAX_EARLY = 10_000;

/** OPC UA status names: `Good…`, `Uncertain…`, `Bad…` (the connector leaves `statusCode` out when Good). */
function isBad(statusCode: unknown): boolean {
  if (statusCode === undefined || statusCode === null) return false;
  if (typeof statusCode === 'string') return statusCode.startsWith('Bad');
  if (typeof statusCode === 'number') return (statusCode & 0x80000000) !== 0;
  return false;
}

interface ArmedTrigger {
  workflowId: string;
  index: number;
  trigger: TagTrigger;
  filter: TagTriggerFilter;
  timer?: NodeJS.Timeout | undefined;
}

export class TagRouter {
  private readonly log: Logger;
  private readonly latest = new Map<string, { value: Json; sourceTimestamp?: string }>();
  private readonly watchers = new Map<string, Set<string>>();
  private readonly byInstance = new Map<string, Set<string>>();
  private readonly triggers = new Map<string, ArmedTrigger[]>();
  private readonly watchedAtConnector = new Set<string>();
  /** Failed connector watches per tag, and their pending retries. */
  private readonly watchRetries = new Map<string, number>();
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private readonly prefetched = new Set<string>();
  private closed = false;
  /** False until the twin's settings are in force: no connector watches, no routing before that. */
  private configured = false;
  /** Values that arrived before the settings were in force, latest per endpoint and node (bounded). */
  private readonly early = new Map<string, TagMessage>();

  constructor(private readonly options: TagRouterOptions) {
    this.log = options.logger.child({ component: 'tags' });
  }

  close(): void {
    this.closed = true;
    for (const armed of this.triggers.values()) for (const t of armed) if (t.timer) clearTimeout(t.timer);
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.retryTimers.clear();
  }

  /**
   * The twin's settings (tag names → node ids, default endpoint) are in force: starts the connector
   * watches asked for so far and routes the values that arrived before (mapped with these settings).
   */
  setConfigured(): void {
    if (this.configured) return;
    this.configured = true;
    const early = [...this.early.values()];
    this.early.clear();
    for (const message of early) this.onMessage(message);
    this.rewatchAll();
  }

  get isConfigured(): boolean {
    return this.configured;
  }

  /** Current values of `tags` (only the known ones). */
  values(tags: readonly string[]): JsonObject {
    const out: JsonObject = {};
    for (const tag of tags) {
      const known = this.latest.get(tag);
      if (known !== undefined) out[tag] = known.value;
    }
    return out;
  }

  snapshot(): JsonObject {
    const out: JsonObject = {};
    for (const [tag, known] of this.latest) out[tag] = known.value;
    return out;
  }

  /** An instance waits on (or is interlocked by) these tags: route their changes to it. */
  watch(instanceId: string, tags: readonly string[]): void {
    const mine = this.byInstance.get(instanceId) ?? new Set<string>();
    for (const tag of tags) {
      mine.add(tag);
      const set = this.watchers.get(tag) ?? new Set<string>();
      set.add(instanceId);
      this.watchers.set(tag, set);
    }
    this.byInstance.set(instanceId, mine);
    this.ensureConnectorWatch(tags);
    const known = this.values(tags);
    if (Object.keys(known).length > 0) this.deliver(instanceId, known);
  }

  forget(instanceId: string): void {
    for (const tag of this.byInstance.get(instanceId) ?? []) this.watchers.get(tag)?.delete(instanceId);
    this.byInstance.delete(instanceId);
  }

  /** (Re)arms the tag triggers of a workflow; `undefined` removes them. */
  setTriggers(workflowId: string, definition: WorkflowDefinition | undefined): void {
    for (const old of this.triggers.get(workflowId) ?? []) if (old.timer) clearTimeout(old.timer);
    this.triggers.delete(workflowId);
    const armed: ArmedTrigger[] = [];
    (definition?.triggers ?? []).forEach((trigger, index) => {
      if (trigger.kind !== 'tag' || trigger.enabled === false) return;
      armed.push({
        workflowId,
        index,
        trigger,
        filter: new TagTriggerFilter({
          ...(trigger.debounceMs === undefined ? {} : { debounceMs: trigger.debounceMs }),
          ...(trigger.deadband === undefined ? {} : { deadband: trigger.deadband }),
        }),
      });
    });
    if (armed.length === 0) return;
    this.triggers.set(workflowId, armed);
    this.ensureConnectorWatch(armed.flatMap((a) => a.trigger.tags));
  }

  /** Keeps these tags watched (e.g. a deployed workflow's interlock tags), so values are known before a start. */
  prefetch(tags: readonly string[]): void {
    for (const tag of tags) this.prefetched.add(tag);
    this.ensureConnectorWatch(tags);
  }

  /** Stores a value read directly (not from a watch). */
  remember(tag: string, value: Json): void {
    this.latest.set(tag, { value });
  }

  /** After a reconnect or a settings change: ask the connector again for every watched tag. */
  rewatchAll(): void {
    this.watchedAtConnector.clear();
    const tags = new Set<string>([...this.watchers.keys(), ...this.prefetched]);
    for (const armed of this.triggers.values()) for (const a of armed) for (const tag of a.trigger.tags) tags.add(tag);
    this.ensureConnectorWatch([...tags]);
  }

  /** A `tags` input message from the connector. */
  onMessage(message: TagMessage): void {
    if (isBad(message.statusCode)) {
      // A failed read is no value: feeding it to interlocks or conditions would breach them for nothing.
      this.log.debug('tag value with a bad status ignored', { nodeId: message.nodeId, statusCode: message.statusCode });
      return;
    }
    if (!this.configured) {
      // Without the settings the node id cannot be mapped to its tag name yet.
      const key = `${message.endpointUrl ?? ''}|${message.nodeId}`;
      this.early.delete(key);
      if (this.early.size < MAX_EARLY) this.early.set(key, message);
      return;
    }
    const settings = this.options.settings();
    const mapped = settings.tags.find(
      (t) =>
        t.nodeId === message.nodeId &&
        (t.endpointUrl === undefined || message.endpointUrl === undefined || t.endpointUrl === message.endpointUrl),
    );
    const name = mapped?.name ?? message.nodeId;
    const value = toJson(message.value) ?? null;
    this.latest.set(name, {
      value,
      ...(message.sourceTimestamp === undefined ? {} : { sourceTimestamp: message.sourceTimestamp }),
    });
    for (const instanceId of this.watchers.get(name) ?? []) this.deliver(instanceId, { [name]: value });
    for (const armed of this.triggers.values()) {
      for (const a of armed) {
        if (!a.trigger.tags.includes(name)) continue;
        if (!a.filter.accept(name, value)) continue;
        void this.evaluate(a, message.sourceTimestamp ?? new Date(this.options.now()).toISOString());
      }
    }
  }

  private deliver(instanceId: string, values: JsonObject): void {
    this.options.deliver(instanceId, values).catch((error: unknown) => {
      // The instance ended or is not in a state that takes tags: stop routing to it.
      this.log.debug('tag update not applied', { instanceId, error: errorMessage(error) });
      this.forget(instanceId);
    });
  }

  private async evaluate(armed: ArmedTrigger, stamp: string): Promise<void> {
    let holds: boolean;
    try {
      const compiled = compileExpression(armed.trigger.condition);
      holds = isTruthy(await compiled.evaluate({ tags: this.snapshot() }, { nowMs: this.options.now() }));
    } catch (error) {
      this.log.warn('tag trigger condition failed', { workflowId: armed.workflowId, error: errorMessage(error) });
      holds = false;
    }
    const nowMs = this.options.now();
    if (armed.filter.observe(holds, nowMs)) return this.fire(armed, stamp);
    const dueAt = armed.filter.dueAtMs();
    if (armed.timer) clearTimeout(armed.timer);
    armed.timer = undefined;
    if (dueAt !== undefined && !this.closed) {
      armed.timer = setTimeout(
        () => {
          armed.timer = undefined;
          if (armed.filter.due(this.options.now())) void this.fire(armed, stamp);
        },
        Math.max(0, dueAt - nowMs),
      );
    }
  }

  private async fire(armed: ArmedTrigger, stamp: string): Promise<void> {
    const event: JsonObject = { tags: this.snapshot(), at: stamp };
    let parameters: JsonObject | undefined;
    let key = `tag:${armed.workflowId}:${armed.index}:${stamp}`;
    try {
      if (armed.trigger.parameters !== undefined) {
        const value = await evaluateTemplate(armed.trigger.parameters, { event }, { nowMs: this.options.now() });
        if (value !== null && typeof value === 'object' && !Array.isArray(value)) parameters = value;
      }
      if (armed.trigger.idempotencyKey !== undefined) {
        const value = await evaluateTemplate(armed.trigger.idempotencyKey, { event }, { nowMs: this.options.now() });
        if (typeof value === 'string' || typeof value === 'number') key = `tag:${armed.workflowId}:${value}`;
      }
    } catch (error) {
      this.log.warn('tag trigger parameters failed', { workflowId: armed.workflowId, error: errorMessage(error) });
    }
    await this.options.trigger(armed.workflowId, {
      idempotencyKey: key,
      trigger: 'tag',
      ...(parameters === undefined ? {} : { parameters }),
    });
  }

  private ensureConnectorWatch(tags: readonly string[]): void {
    // Before the settings are in force a tag name would be taken for a node id: asked in setConfigured.
    if (!this.configured) return;
    const settings = this.options.settings();
    for (const tag of tags) {
      if (this.watchedAtConnector.has(tag) || this.closed) continue;
      this.watchedAtConnector.add(tag);
      const mapped = settings.tags.find((t) => t.name === tag);
      const nodeId = mapped?.nodeId ?? tag;
      const endpointUrl = mapped?.endpointUrl ?? settings.defaultEndpointUrl;
      const watchId = `orchestrator-${createHash('sha256')
        .update(`${endpointUrl ?? ''}|${nodeId}`)
        .digest('hex')
        .slice(0, 16)}`;
      this.options.connector
        .watch({
          watchId,
          nodeId,
          ...(mapped?.samplingIntervalMs === undefined ? {} : { samplingIntervalMs: mapped.samplingIntervalMs }),
          ...(mapped?.publishingIntervalMs === undefined ? {} : { publishingIntervalMs: mapped.publishingIntervalMs }),
          ...(endpointUrl === undefined ? {} : { endpointUrl }),
        })
        .then(
          () => this.watchRetries.delete(tag),
          (error: unknown) => {
            // The connector may not have applied its own twin yet (fresh start): ask again with backoff,
            // a bounded number of times; after that, the next reconnect or settings change asks again.
            this.watchedAtConnector.delete(tag);
            const attempt = (this.watchRetries.get(tag) ?? 0) + 1;
            this.watchRetries.set(tag, attempt);
            const retry = attempt <= MAX_WATCH_RETRIES && !this.closed;
            this.log.warn('connector watch failed', { tag, nodeId, attempt, retry, error: errorMessage(error) });
            if (!retry) return;
            const timer = setTimeout(
              () => {
                this.retryTimers.delete(timer);
                this.ensureConnectorWatch([tag]);
              },
              Math.min(500 * 2 ** (attempt - 1), 10_000),
            );
            timer.unref();
            this.retryTimers.add(timer);
          },
        );
    }
  }
}
