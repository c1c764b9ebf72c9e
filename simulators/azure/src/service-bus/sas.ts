import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Verifies a Service Bus SAS token `SharedAccessSignature sr=…&sig=…&se=…&skn=…`:
 * `sig = base64(HMAC-SHA256(key as UTF-8 text, urlencode(sr) + "\n" + se))`, not expired, key name known.
 */
export function verifySasToken(
  token: string,
  keys: Readonly<Record<string, string>>,
  nowMs: number,
): { ok: true } | { ok: false; reason: string } {
  const m = /^SharedAccessSignature\s+(.+)$/.exec(token.trim());
  if (!m?.[1]) return { ok: false, reason: 'not a SharedAccessSignature' };
  const fields = new Map<string, string>();
  for (const part of m[1].split('&')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq), part.slice(eq + 1));
  }
  const sr = fields.get('sr');
  const sig = fields.get('sig');
  const se = fields.get('se');
  const skn = fields.get('skn');
  if (!sr || !sig || !se || !skn) return { ok: false, reason: 'sr, sig, se and skn are required' };
  const key = keys[skn];
  if (key === undefined) return { ok: false, reason: `unknown key name ${skn}` };
  if (Number(se) * 1000 < nowMs) return { ok: false, reason: 'token expired' };
  // sr arrives URL-encoded: the signed string is exactly that encoded form
  const expected = createHmac('sha256', Buffer.from(key, 'utf8')).update(`${sr}\n${se}`).digest();
  const given = Buffer.from(decodeURIComponent(sig), 'base64');
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return { ok: false, reason: 'bad signature' };
  return { ok: true };
}
