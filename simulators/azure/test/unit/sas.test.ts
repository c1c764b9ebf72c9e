import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { verifySasToken } from '../../src/index.js';

function token(key: string, audience: string, expirySecs: number, keyName = 'Root'): string {
  const sr = encodeURIComponent(audience);
  const sig = createHmac('sha256', Buffer.from(key, 'utf8')).update(`${sr}\n${expirySecs}`).digest('base64');
  return `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${expirySecs}&skn=${keyName}`;
}

describe('SAS tokens for CBS put-token', () => {
  const now = Date.UTC(2026, 10, 25);
  const se = now / 1000 + 3600;
  it('accepts a token signed with the key as UTF-8 text', () => {
    expect(verifySasToken(token('k3y', 'sb://localhost/q1', se), { Root: 'k3y' }, now)).toEqual({ ok: true });
  });
  it('refuses a wrong key, an unknown key name, an expired token and garbage', () => {
    expect(verifySasToken(token('other', 'sb://localhost/q1', se), { Root: 'k3y' }, now)).toMatchObject({ ok: false });
    expect(verifySasToken(token('k3y', 'sb://localhost/q1', se, 'X'), { Root: 'k3y' }, now)).toMatchObject({
      ok: false,
    });
    expect(verifySasToken(token('k3y', 'sb://localhost/q1', now / 1000 - 1), { Root: 'k3y' }, now)).toMatchObject({
      ok: false,
    });
    expect(verifySasToken('Bearer x', { Root: 'k3y' }, now)).toMatchObject({ ok: false });
  });
});
