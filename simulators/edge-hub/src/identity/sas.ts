import { createHmac, timingSafeEqual } from 'node:crypto';

/** `encodeURIComponent` plus `!'()*`, as azure-iot-common encodes the SAS resource URI. */
export function encodeUriStrict(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** A SAS token split into its raw (still URL-encoded) and decoded parts. */
export interface ParsedSas {
  /** Decoded resource URI, e.g. `hub.azure-devices.net/devices/d/modules/m`. */
  resource: string;
  /** Expiry, seconds since the epoch. */
  expirySec: number;
  /** Policy name (service tokens only). */
  keyName: string | undefined;
  signature: string;
  /** `<raw sr>\n<raw se>`: the exact string the client signed. */
  stringToSign: string;
}

/** Parses `SharedAccessSignature sr=…&sig=…&se=…[&skn=…]`; undefined when it is not such a token. */
export function parseSas(token: string): ParsedSas | undefined {
  const prefix = 'SharedAccessSignature ';
  if (!token.startsWith(prefix)) return undefined;
  const raw = new Map<string, string>();
  for (const part of token.slice(prefix.length).split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return undefined;
    raw.set(part.slice(0, eq), part.slice(eq + 1));
  }
  const sr = raw.get('sr');
  const sig = raw.get('sig');
  const se = raw.get('se');
  if (sr === undefined || sig === undefined || se === undefined || !/^\d+$/.test(se)) return undefined;
  try {
    const skn = raw.get('skn');
    return {
      resource: decodeURIComponent(sr),
      expirySec: Number(se),
      keyName: skn === undefined ? undefined : decodeURIComponent(skn),
      signature: decodeURIComponent(sig),
      stringToSign: `${sr}\n${se}`,
    };
  } catch {
    return undefined;
  }
}

/** `base64(HMAC-SHA256(base64decode(key), data))`. */
export function signWithKey(keyBase64: string, data: string | Buffer): string {
  return createHmac('sha256', Buffer.from(keyBase64, 'base64')).update(data).digest('base64');
}

/** Why a token was refused. */
export type SasRefusal = 'malformed' | 'expired' | 'bad-signature' | 'wrong-resource';

/**
 * Checks signature and expiry of a token against one key. `resourceMatches` decides whether the
 * token's resource is the expected one (case-insensitive, host part as the caller wishes).
 */
export function verifySas(
  token: string,
  keyBase64: string,
  nowMs: number,
  resourceMatches: (resource: string) => boolean,
): SasRefusal | undefined {
  const sas = parseSas(token);
  if (sas === undefined) return 'malformed';
  if (sas.expirySec * 1000 <= nowMs) return 'expired';
  if (!resourceMatches(sas.resource)) return 'wrong-resource';
  const expected = Buffer.from(signWithKey(keyBase64, sas.stringToSign), 'utf8');
  const given = Buffer.from(sas.signature, 'utf8');
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return 'bad-signature';
  return undefined;
}

/** Creates a token the way the Azure SDKs do (used by the emulator's own clients and tests). */
export function createSas(resource: string, keyBase64: string, expirySec: number, keyName?: string): string {
  const sr = encodeUriStrict(resource);
  const sig = encodeUriStrict(signWithKey(keyBase64, `${sr}\n${expirySec}`));
  const skn = keyName === undefined ? '' : `&skn=${encodeUriStrict(keyName)}`;
  return `SharedAccessSignature sr=${sr}&sig=${sig}&se=${expirySec}${skn}`;
}
