import { createHash } from 'node:crypto';
import type { EmulatorDatabase } from '../store/database.js';
import {
  type JsonObject,
  type TwinRuleViolation,
  checkTwinPatch,
  checkTwinSectionSize,
  mergePatch,
  withoutSystemKeys,
} from './twin-rules.js';

/** One module twin: both sections with their versions. */
export interface ModuleTwinState {
  moduleId: string;
  desired: JsonObject;
  desiredVersion: number;
  reported: JsonObject;
  reportedVersion: number;
}

/** The outcome of a twin write: the new state and the desired patch to push, or a rule violation. */
export type TwinWriteResult =
  { ok: true; twin: ModuleTwinState; desiredPush?: JsonObject } | { ok: false; violation: TwinRuleViolation };

interface TwinRow {
  desired: string;
  desired_version: number;
  reported: string;
  reported_version: number;
  desired_subscribed: number;
  seeded_hash: string | null;
}

const hashOf = (doc: JsonObject): string => createHash('sha256').update(JSON.stringify(doc)).digest('hex');

/**
 * Module twins persisted in SQLite. `desired.$version` and `reported.$version` each increase by one
 * per accepted write; IoT Hub semantics: partial updates are JSON merge patches, a replace sends the
 * new document (with `null` for removed top-level keys) as the notification.
 */
export class TwinStore {
  readonly #db: EmulatorDatabase;

  constructor(db: EmulatorDatabase) {
    this.#db = db;
  }

  #row(moduleId: string): TwinRow | undefined {
    return this.#db
      .prepare(
        'SELECT desired, desired_version, reported, reported_version, desired_subscribed, seeded_hash FROM twins WHERE module_id = ?',
      )
      .get(moduleId) as TwinRow | undefined;
  }

  #ensureRow(moduleId: string): TwinRow {
    const row = this.#row(moduleId);
    if (row !== undefined) return row;
    this.#db
      .prepare(
        "INSERT INTO twins (module_id, desired, desired_version, reported, reported_version) VALUES (?, '{}', 1, '{}', 1)",
      )
      .run(moduleId);
    return {
      desired: '{}',
      desired_version: 1,
      reported: '{}',
      reported_version: 1,
      desired_subscribed: 0,
      seeded_hash: null,
    };
  }

  get(moduleId: string): ModuleTwinState {
    const row = this.#ensureRow(moduleId);
    return {
      moduleId,
      desired: JSON.parse(row.desired) as JsonObject,
      desiredVersion: row.desired_version,
      reported: JSON.parse(row.reported) as JsonObject,
      reportedVersion: row.reported_version,
    };
  }

  /**
   * Applies a deployment's desired properties: the first time, or when the manifest changed since the
   * last seeding, the desired section is replaced (as `az iot edge set-modules` does).
   */
  seedDesired(moduleId: string, desired: JsonObject): TwinWriteResult | undefined {
    const row = this.#ensureRow(moduleId);
    const hash = hashOf(desired);
    if (row.seeded_hash === hash) return undefined;
    const result = this.replaceDesired(moduleId, desired);
    if (result.ok) this.#db.prepare('UPDATE twins SET seeded_hash = ? WHERE module_id = ?').run(hash, moduleId);
    return result;
  }

  patchDesired(moduleId: string, patch: unknown): TwinWriteResult {
    const violation = checkTwinPatch(patch, 'desired');
    if (violation) return { ok: false, violation };
    const clean = withoutSystemKeys(patch as JsonObject);
    const current = this.get(moduleId);
    const merged = mergePatch(current.desired, clean);
    const sizeViolation = checkTwinSectionSize(merged, 'desired');
    if (sizeViolation) return { ok: false, violation: sizeViolation };
    const version = current.desiredVersion + 1;
    this.#db
      .prepare('UPDATE twins SET desired = ?, desired_version = ? WHERE module_id = ?')
      .run(JSON.stringify(merged), version, moduleId);
    return {
      ok: true,
      twin: { ...current, desired: merged, desiredVersion: version },
      desiredPush: { ...clean, $version: version },
    };
  }

  replaceDesired(moduleId: string, desired: unknown): TwinWriteResult {
    const violation = checkTwinPatch(desired, 'desired');
    if (violation) return { ok: false, violation };
    const clean = mergePatch({}, withoutSystemKeys(desired as JsonObject));
    const sizeViolation = checkTwinSectionSize(clean, 'desired');
    if (sizeViolation) return { ok: false, violation: sizeViolation };
    const current = this.get(moduleId);
    const version = current.desiredVersion + 1;
    this.#db
      .prepare('UPDATE twins SET desired = ?, desired_version = ? WHERE module_id = ?')
      .run(JSON.stringify(clean), version, moduleId);
    const push: JsonObject = {};
    for (const key of Object.keys(current.desired)) if (!(key in clean)) push[key] = null;
    Object.assign(push, clean, { $version: version });
    return { ok: true, twin: { ...current, desired: clean, desiredVersion: version }, desiredPush: push };
  }

  patchReported(moduleId: string, patch: unknown, rawBytes: number): TwinWriteResult {
    const violation = checkTwinPatch(patch, 'reported', rawBytes);
    if (violation) return { ok: false, violation };
    const current = this.get(moduleId);
    const merged = mergePatch(current.reported, withoutSystemKeys(patch as JsonObject));
    const sizeViolation = checkTwinSectionSize(merged, 'reported');
    if (sizeViolation) return { ok: false, violation: sizeViolation };
    const version = current.reportedVersion + 1;
    this.#db
      .prepare('UPDATE twins SET reported = ?, reported_version = ? WHERE module_id = ?')
      .run(JSON.stringify(merged), version, moduleId);
    return { ok: true, twin: { ...current, reported: merged, reportedVersion: version } };
  }

  /** Remembers that the module subscribed to desired pushes (kept across its reconnects, see broker). */
  markDesiredSubscribed(moduleId: string): void {
    this.#ensureRow(moduleId);
    this.#db.prepare('UPDATE twins SET desired_subscribed = 1 WHERE module_id = ?').run(moduleId);
  }

  isDesiredSubscribed(moduleId: string): boolean {
    return (this.#row(moduleId)?.desired_subscribed ?? 0) === 1;
  }
}
