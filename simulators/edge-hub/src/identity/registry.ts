import { randomBytes, randomUUID } from 'node:crypto';
import { type EmulatorDatabase, metaValue } from '../store/database.js';
import { type SasRefusal, signWithKey, verifySas } from './sas.js';

/** A module identity as IoT Hub keeps it. */
export interface ModuleIdentity {
  moduleId: string;
  primaryKey: string;
  secondaryKey: string;
  generationId: string;
}

const newKey = (): string => randomBytes(32).toString('base64');

/** The name of the service policy whose key signs back-end tokens (as on a real hub). */
export const SERVICE_POLICY = 'iothubowner';

/**
 * The local identity registry: one edge device, its module identities with SAS keys, and the hub's
 * `iothubowner` policy key. Keys are created once and kept in the database, so connection strings
 * stay valid across emulator restarts.
 */
export class IdentityRegistry {
  readonly servicePolicyKey: string;
  readonly #db: EmulatorDatabase;
  readonly #cache = new Map<string, ModuleIdentity>();

  constructor(db: EmulatorDatabase) {
    this.#db = db;
    this.servicePolicyKey = metaValue(db, 'servicePolicyKey', newKey);
    const rows = db
      .prepare(
        'SELECT module_id AS moduleId, primary_key AS primaryKey, secondary_key AS secondaryKey, generation_id AS generationId FROM identities',
      )
      .all() as ModuleIdentity[];
    for (const row of rows) this.#cache.set(row.moduleId, row);
  }

  /** Every module identity, sorted by id. */
  list(): ModuleIdentity[] {
    return [...this.#cache.values()].sort((a, b) => a.moduleId.localeCompare(b.moduleId));
  }

  get(moduleId: string): ModuleIdentity | undefined {
    return this.#cache.get(moduleId);
  }

  /** Returns the identity, creating it with fresh keys when missing. */
  ensure(moduleId: string): ModuleIdentity {
    const existing = this.#cache.get(moduleId);
    if (existing !== undefined) return existing;
    const identity: ModuleIdentity = {
      moduleId,
      primaryKey: newKey(),
      secondaryKey: newKey(),
      generationId: randomUUID(),
    };
    this.#db
      .prepare('INSERT INTO identities (module_id, primary_key, secondary_key, generation_id) VALUES (?, ?, ?, ?)')
      .run(identity.moduleId, identity.primaryKey, identity.secondaryKey, identity.generationId);
    this.#cache.set(moduleId, identity);
    return identity;
  }

  /**
   * Checks a module's SAS token (primary or secondary key). The resource must end with
   * `/devices/<deviceId>/modules/<moduleId>`; the host part is only what the client put in its `sr`.
   */
  verifyModuleToken(
    deviceId: string,
    moduleId: string,
    token: string,
    nowMs: number,
  ): SasRefusal | 'unknown-module' | undefined {
    const identity = this.#cache.get(moduleId);
    if (identity === undefined) return 'unknown-module';
    const suffix = `/devices/${deviceId}/modules/${moduleId}`.toLowerCase();
    const matches = (resource: string): boolean => resource.toLowerCase().endsWith(suffix);
    const primary = verifySas(token, identity.primaryKey, nowMs, matches);
    if (primary !== 'bad-signature') return primary;
    return verifySas(token, identity.secondaryKey, nowMs, matches);
  }

  /** Checks a back-end token signed with the `iothubowner` policy key. */
  verifyServiceToken(token: string, nowMs: number): SasRefusal | undefined {
    return verifySas(token, this.servicePolicyKey, nowMs, () => true);
  }

  /** The workload API's `sign`: HMAC-SHA256 of `data` with the module's primary key. */
  sign(moduleId: string, dataBase64: string): string | undefined {
    const identity = this.#cache.get(moduleId);
    if (identity === undefined) return undefined;
    return signWithKey(identity.primaryKey, Buffer.from(dataBase64, 'base64'));
  }
}
