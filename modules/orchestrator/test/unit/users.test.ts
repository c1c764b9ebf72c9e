import { afterEach, describe, expect, it } from 'vitest';
import { createTempDir, type TempDir } from '@takt/test-support';
import { LoginLimiter, UserStore, hasRole } from '../../src/index.js';
import { openStateDatabase } from '../../src/store.js';

let dir: TempDir | undefined;
afterEach(async () => {
  await dir?.remove();
});

describe('users, roles and login limits', () => {
  it('stores salted scrypt hashes and verifies passwords', async () => {
    dir = await createTempDir('takt-orch-users-');
    const db = openStateDatabase(dir.join('o.db'));
    const users = new UserStore(db);
    expect(await users.ensureAdmin('root', 'root-pass-1')).toBe(true);
    expect(await users.ensureAdmin('root2', 'root-pass-2')).toBe(false);
    await users.create('ann', 'ann-pass-1', ['operator', 'qa']);
    await users.create('bob', 'ann-pass-1', ['viewer']);
    const rows = db.prepare<[], { salt: string; hash: string }>('SELECT salt, hash FROM users').all();
    expect(new Set(rows.map((r) => r.hash)).size).toBe(3);
    expect(rows.every((r) => !r.hash.includes('pass'))).toBe(true);
    expect(await users.verify('ann', 'ann-pass-1')).toEqual({ name: 'ann', roles: ['operator', 'qa'] });
    await expect(users.verify('ann', 'wrong-pass')).rejects.toMatchObject({ code: 'ORCH_AUTH_FAILED' });
    await expect(users.verify('nobody', 'ann-pass-1')).rejects.toMatchObject({ code: 'ORCH_AUTH_FAILED' });
    await expect(users.create('ann', 'x-pass-123', [])).rejects.toMatchObject({ code: 'ORCH_USER_EXISTS' });
    await expect(users.create('cy', 'short', [])).rejects.toMatchObject({ code: 'ORCH_REQUEST_INVALID' });
    db.close();
  });

  it('base roles are cumulative, named roles are not', () => {
    expect(hasRole({ name: 'a', roles: ['admin'] }, 'operator')).toBe(true);
    expect(hasRole({ name: 'a', roles: ['operator'] }, 'engineer')).toBe(false);
    expect(hasRole({ name: 'a', roles: ['admin'] }, 'qa')).toBe(false);
    expect(hasRole({ name: 'a', roles: ['viewer', 'qa'] }, 'qa')).toBe(true);
  });

  it('limits failed logins per client', () => {
    let nowMs = 0;
    const limiter = new LoginLimiter(2, 1000, () => nowMs);
    limiter.fail('ip');
    limiter.fail('ip');
    expect(() => limiter.check('ip')).toThrow(expect.objectContaining({ code: 'ORCH_RATE_LIMITED' }));
    nowMs = 1001;
    expect(() => limiter.check('ip')).not.toThrow();
  });
});
