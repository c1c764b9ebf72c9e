/**
 * Local users and roles for the console and for electronic signatures. Passwords are stored as
 * salted scrypt hashes (node:crypto); comparisons are constant-time. Roles: `viewer` < `operator` <
 * `engineer` < `admin` (each includes the ones before it), plus any number of named roles an approval
 * step may ask for (`qa`, `supervisor` …).
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import type { SqliteDatabase } from '@takt/edge-kit';
import { OrchestratorError } from '../errors.js';

export const baseRoles = ['viewer', 'operator', 'engineer', 'admin'] as const;
export type BaseRole = (typeof baseRoles)[number];

export interface User {
  name: string;
  roles: string[];
}

const KEY_BYTES = 32;
const SCRYPT = { N: 16_384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

function hashPassword(password: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, KEY_BYTES, SCRYPT, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

/** Whether `user` holds `role` (base roles are cumulative; admin holds every base role). */
export function hasRole(user: User, role: string): boolean {
  const rank = baseRoles.indexOf(role as BaseRole);
  if (rank >= 0) return user.roles.some((r) => baseRoles.indexOf(r as BaseRole) >= rank);
  return user.roles.includes(role);
}

export class UserStore {
  private readonly stmt;
  // A hash to compare against when the user does not exist, so timing does not reveal user names.
  private readonly dummySalt = randomBytes(16);

  constructor(
    private readonly db: SqliteDatabase,
    private readonly now: () => number = Date.now,
  ) {
    this.stmt = {
      get: db.prepare<[string], { name: string; salt: string; hash: string; roles: string; disabled: number }>(
        'SELECT name, salt, hash, roles, disabled FROM users WHERE name = ?',
      ),
      insert: db.prepare('INSERT INTO users (name, salt, hash, roles, created_at) VALUES (?, ?, ?, ?, ?)'),
      update: db.prepare('UPDATE users SET salt = ?, hash = ?, roles = ? WHERE name = ?'),
      list: db.prepare<[], { name: string; roles: string; disabled: number }>(
        'SELECT name, roles, disabled FROM users ORDER BY name',
      ),
      count: db.prepare<[], number>('SELECT COUNT(*) FROM users').pluck(),
    };
  }

  count(): number {
    return this.stmt.count.get() ?? 0;
  }

  list(): (User & { disabled: boolean })[] {
    return this.stmt.list.all().map((row) => ({
      name: row.name,
      roles: JSON.parse(row.roles) as string[],
      disabled: row.disabled !== 0,
    }));
  }

  async create(name: string, password: string, roles: readonly string[]): Promise<User> {
    if (this.stmt.get.get(name) !== undefined) {
      throw new OrchestratorError('ORCH_USER_EXISTS', `user ${name} exists`, { details: { name } });
    }
    validatePassword(password);
    const salt = randomBytes(16);
    const hash = await hashPassword(password, salt);
    this.stmt.insert.run(name, salt.toString('base64'), hash.toString('base64'), JSON.stringify(roles), this.now());
    return { name, roles: [...roles] };
  }

  async setPassword(name: string, password: string, roles?: readonly string[]): Promise<void> {
    const row = this.stmt.get.get(name);
    if (row === undefined) throw new OrchestratorError('ORCH_AUTH_FAILED', `no user ${name}`);
    validatePassword(password);
    const salt = randomBytes(16);
    const hash = await hashPassword(password, salt);
    this.stmt.update.run(
      salt.toString('base64'),
      hash.toString('base64'),
      roles === undefined ? row.roles : JSON.stringify(roles),
      name,
    );
  }

  /** Checks a user name and password; throws ORCH_AUTH_FAILED (same error for unknown user and wrong password). */
  async verify(name: string, password: string): Promise<User> {
    const row = this.stmt.get.get(name);
    const salt = row === undefined ? this.dummySalt : Buffer.from(row.salt, 'base64');
    const actual = await hashPassword(password, salt);
    const expected = row === undefined ? Buffer.alloc(KEY_BYTES) : Buffer.from(row.hash, 'base64');
    const ok =
      row !== undefined && row.disabled === 0 && expected.length === actual.length && timingSafeEqual(expected, actual);
    if (!ok) throw new OrchestratorError('ORCH_AUTH_FAILED', 'wrong user name or password');
    return { name: row.name, roles: JSON.parse(row.roles) as string[] };
  }

  /** Creates the first admin from the environment secret when there is no user yet. */
  async ensureAdmin(name: string | undefined, password: string | undefined): Promise<boolean> {
    if (name === undefined || password === undefined || this.count() > 0) return false;
    await this.create(name, password, ['admin']);
    return true;
  }
}

function validatePassword(password: string): void {
  if (password.length < 8 || password.length > 256) {
    throw new OrchestratorError('ORCH_REQUEST_INVALID', 'a password needs 8 to 256 characters', {
      details: { problems: [{ path: 'password', message: 'length 8–256' }] },
    });
  }
}

/** Bearer sessions for the HTTP API (in memory: a module restart logs everybody out). */
export class Sessions {
  private readonly sessions = new Map<string, { user: User; expiresAtMs: number }>();

  constructor(
    private readonly ttlMs = 8 * 3600_000,
    private readonly now: () => number = Date.now,
  ) {}

  create(user: User): { token: string; expiresAtMs: number } {
    this.prune();
    const token = randomBytes(32).toString('base64url');
    const expiresAtMs = this.now() + this.ttlMs;
    this.sessions.set(token, { user, expiresAtMs });
    return { token, expiresAtMs };
  }

  get(token: string): User | undefined {
    const session = this.sessions.get(token);
    if (session === undefined) return undefined;
    if (session.expiresAtMs <= this.now()) {
      this.sessions.delete(token);
      return undefined;
    }
    return session.user;
  }

  revoke(token: string): void {
    this.sessions.delete(token);
  }

  private prune(): void {
    const now = this.now();
    let checked = 0;
    for (const [token, session] of this.sessions) {
      if (checked++ > 1000) break;
      if (session.expiresAtMs <= now) this.sessions.delete(token);
    }
  }
}

/** Failed-login limiter: at most `maxFailures` per key in `windowMs`. */
export class LoginLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly maxFailures = 5,
    private readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  check(key: string): void {
    const recent = this.recent(key);
    if (recent.length >= this.maxFailures) {
      const retryInMs = (recent[0] ?? this.now()) + this.windowMs - this.now();
      throw new OrchestratorError('ORCH_RATE_LIMITED', 'too many failed logins', { details: { retryInMs } });
    }
  }

  fail(key: string): void {
    const recent = this.recent(key);
    recent.push(this.now());
    this.failures.set(key, recent);
    if (this.failures.size > 10_000) this.failures.clear();
  }

  succeed(key: string): void {
    this.failures.delete(key);
  }

  private recent(key: string): number[] {
    const cutoff = this.now() - this.windowMs;
    return (this.failures.get(key) ?? []).filter((at) => at > cutoff);
  }
}
