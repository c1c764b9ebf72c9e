/**
 * Twin binding, pure: turns the full desired document and desired patches (with `$version`) into the
 * effective desired state and the IoT Plug and Play acknowledgements `{value, ac, av, ad}` for each
 * writable property. No I/O: the supervised ModuleClient feeds it and sends what it returns.
 *
 * Rules (notes/iot-edge-platform.md §2–3): a patch is a JSON merge patch (null deletes, arrays are
 * replaced whole); `$version` strictly increases, so a patch whose version is not newer than what we
 * hold is stale and dropped; a full twin replaces everything; a rejected value is acknowledged 400 and
 * the last good value stays in force.
 */

/** A JSON object. */
export type JsonObject = { [key: string]: unknown };

/** The IoT Plug and Play writable-property acknowledgement. */
export interface PnpAck {
  value: unknown;
  /** 200 applied, 202 in progress, 203 device default, 400 rejected, 500 failed while applying. */
  ac: number;
  /** The desired `$version` this answers. */
  av: number;
  ad?: string;
}

export function pnpAck(value: unknown, ac: number, av: number, ad?: string): PnpAck {
  return ad === undefined ? { value, ac, av } : { value, ac, av, ad };
}

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** RFC 7386 JSON merge patch; returns a new object and leaves `target` untouched. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isJsonObject(patch)) return structuredClone(patch);
  const out: JsonObject = isJsonObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

/** The outcome of validating one writable value. */
export type PropertyVerdict<T = unknown> =
  | { ok: true; value: T; /** What to echo in the ack's `value` (default: the desired value). */ ackValue?: unknown }
  | { ok: false; problems: readonly string[] };

/** A writable property declared by a module. */
export interface WritableProperty<T = unknown> {
  /** Top-level desired key, e.g. `settings` or `workflows`. */
  name: string;
  /**
   * `whole`: the property is one value with one ack (`settings`).
   * `entries`: the property is a map whose entries are validated and acknowledged one by one
   * (`workflows.<id>`), so a bad entry never disturbs the others.
   */
  mode: 'whole' | 'entries';
  validate(value: unknown, key: string): PropertyVerdict<T>;
}

/** One accepted value to apply in the module. */
export interface AcceptedChange {
  property: string;
  /** Entry key for `entries` properties. */
  key?: string;
  value: unknown;
}

export interface RemovedEntry {
  property: string;
  key?: string;
}

export interface RejectedChange {
  property: string;
  key?: string;
  problems: readonly string[];
}

/** What one full twin or patch did. */
export interface BindResult {
  /**
   * `applied`: in order. `stale`: dropped, its version was not newer. `gap`: applied, but at least one
   * patch was missed — fetch the full twin. `invalid`: not an object with a numeric `$version`
   * (TWIN_PATCH_INVALID); ignored.
   */
  status: 'applied' | 'stale' | 'gap' | 'invalid';
  version: number;
  accepted: AcceptedChange[];
  removed: RemovedEntry[];
  rejected: RejectedChange[];
  /** Reported-properties patch with the acks (and nulls that clear acks of deleted entries). Empty when nothing to say. */
  reported: JsonObject;
}

/** Longest `ad` text; keeps many acks within the 32 KB reported limit. */
const MAX_AD_CHARS = 512;

function compactProblems(problems: readonly string[]): string {
  const text = problems.join('; ');
  return text.length <= MAX_AD_CHARS ? text : `${text.slice(0, MAX_AD_CHARS - 20)}… (+${problems.length} total)`;
}

const SYSTEM_KEY = /^\$/;

/**
 * Holds the desired state of one module twin and the writable-property declarations.
 *
 * @example
 * const binder = new TwinBinder([{ name: 'settings', mode: 'whole', validate: validateSettings }]);
 * const first = binder.applyFull(await client.getTwin());   // at start and after every reconnect
 * await client.reportProperties(first.reported);
 * for (const change of first.accepted) apply(change);
 */
export class TwinBinder {
  private readonly properties = new Map<string, WritableProperty>();
  private desiredDoc: JsonObject = {};
  private desiredVersion = 0;
  /** Last accepted value per property/entry: what is in force. */
  private readonly effective = new Map<string, unknown>();
  /** The ack `value` of what is in force, repeated in a 400 ack ("value in use"). */
  private readonly inForceAck = new Map<string, unknown>();

  constructor(properties: readonly WritableProperty[]) {
    for (const property of properties) this.properties.set(property.name, property);
  }

  /** The `$version` of the desired document held now (0 before the first full twin). */
  get version(): number {
    return this.desiredVersion;
  }

  /** The raw desired document (without `$` keys). */
  desired(): JsonObject {
    return structuredClone(this.desiredDoc);
  }

  /** The value in force for a property (or one entry of an `entries` property). */
  effectiveValue(property: string, key?: string): unknown {
    return this.effective.get(key === undefined ? property : `${property}\u0000${key}`);
  }

  /**
   * Applies the full desired document (`twin.properties.desired`): everything is re-evaluated and
   * re-acknowledged. A document older than what is held is ignored.
   */
  applyFull(document: unknown): BindResult {
    const version = versionOf(document);
    if (version === undefined || !isJsonObject(document)) return this.invalid();
    if (version < this.desiredVersion) return this.emptyResult('stale');
    const next = stripSystem(document);
    const previous = this.desiredDoc;
    this.desiredDoc = next;
    this.desiredVersion = version;
    const touched = new Set([...Object.keys(previous), ...Object.keys(next)]);
    return this.evaluate(touched, previous, 'applied', true);
  }

  /** Applies one desired patch (`$iothub/twin/PATCH/properties/desired/?$version=N`). */
  applyPatch(patch: unknown): BindResult {
    const version = versionOf(patch);
    if (version === undefined || !isJsonObject(patch)) return this.invalid();
    if (version <= this.desiredVersion) return this.emptyResult('stale');
    const status = version === this.desiredVersion + 1 || this.desiredVersion === 0 ? 'applied' : 'gap';
    const delta = stripSystem(patch);
    const previous = this.desiredDoc;
    this.desiredDoc = mergePatch(previous, delta) as JsonObject;
    this.desiredVersion = version;
    return this.evaluate(new Set(Object.keys(delta)), previous, status, false);
  }

  private invalid(): BindResult {
    return this.emptyResult('invalid');
  }

  private emptyResult(status: BindResult['status']): BindResult {
    return { status, version: this.desiredVersion, accepted: [], removed: [], rejected: [], reported: {} };
  }

  private evaluate(keys: Set<string>, previous: JsonObject, status: BindResult['status'], full: boolean): BindResult {
    const result = this.emptyResult(status);
    const av = this.desiredVersion;
    for (const name of keys) {
      const property = this.properties.get(name);
      const now = this.desiredDoc[name];
      if (!property) {
        if (now !== undefined) {
          result.rejected.push({ property: name, problems: [`unknown property ${name}`] });
          result.reported[name] = pnpAck(null, 400, av, `unknown property ${name}: this module does not use it`);
        } else {
          result.reported[name] = null;
        }
        continue;
      }
      if (property.mode === 'whole') {
        if (now === undefined) {
          this.effective.delete(name);
          this.inForceAck.delete(name);
          result.removed.push({ property: name });
          result.reported[name] = null;
          continue;
        }
        this.judge(property, name, undefined, now, av, result, (ack) => (result.reported[name] = ack));
        continue;
      }
      // entries: which entries changed?
      const before = isJsonObject(previous[name]) ? previous[name] : {};
      const after = isJsonObject(now) ? now : {};
      const entryKeys = full ? new Set([...Object.keys(before), ...Object.keys(after)]) : changedEntries(before, after);
      const acks: JsonObject = {};
      if (now !== undefined && !isJsonObject(now)) {
        result.rejected.push({ property: name, problems: [`${name} must be an object of entries`] });
        result.reported[name] = pnpAck(null, 400, av, `${name} must be an object of entries`);
        continue;
      }
      for (const key of entryKeys) {
        const value = after[key];
        if (value === undefined) {
          if (key in before || this.effective.has(`${name}\u0000${key}`)) {
            this.effective.delete(`${name}\u0000${key}`);
            this.inForceAck.delete(`${name}\u0000${key}`);
            result.removed.push({ property: name, key });
          }
          acks[key] = null;
          continue;
        }
        this.judge(property, name, key, value, av, result, (ack) => (acks[key] = ack));
      }
      if (Object.keys(acks).length > 0) result.reported[name] = acks;
    }
    return result;
  }

  private judge(
    property: WritableProperty,
    name: string,
    key: string | undefined,
    value: unknown,
    av: number,
    result: BindResult,
    setAck: (ack: PnpAck) => void,
  ): void {
    const id = key === undefined ? name : `${name}\u0000${key}`;
    let verdict: PropertyVerdict;
    try {
      verdict = property.validate(value, key ?? name);
    } catch (error) {
      verdict = {
        ok: false,
        problems: [`validator failed: ${error instanceof Error ? error.message : String(error)}`],
      };
    }
    if (verdict.ok) {
      const ackValue = verdict.ackValue === undefined ? value : verdict.ackValue;
      this.effective.set(id, verdict.value);
      this.inForceAck.set(id, ackValue);
      result.accepted.push(
        key === undefined ? { property: name, value: verdict.value } : { property: name, key, value: verdict.value },
      );
      setAck(pnpAck(ackValue, 200, av));
    } else {
      result.rejected.push(
        key === undefined
          ? { property: name, problems: verdict.problems }
          : { property: name, key, problems: verdict.problems },
      );
      setAck(pnpAck(this.inForceAck.get(id) ?? null, 400, av, compactProblems(verdict.problems)));
    }
  }
}

function changedEntries(before: JsonObject, after: JsonObject): Set<string> {
  const keys = new Set<string>();
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) keys.add(key);
  }
  return keys;
}

function versionOf(document: unknown): number | undefined {
  if (!isJsonObject(document)) return undefined;
  const version = document['$version'];
  return typeof version === 'number' && Number.isFinite(version) ? version : undefined;
}

function stripSystem(document: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(document)) {
    if (!SYSTEM_KEY.test(key)) out[key] = structuredClone(value);
  }
  return out;
}
