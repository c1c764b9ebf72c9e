/** A message inside the emulator, as edgeHub models it. */
export interface EdgeMessage {
  body: Buffer;
  /** System properties by their long names: messageId, correlationId, userId, to, contentType, contentEncoding, outputName, expiryTimeUtc, interfaceId, connectionDeviceId, connectionModuleId, enqueuedTime. */
  systemProperties: Record<string, string>;
  /** Application properties. */
  properties: Record<string, string>;
}

/** Short wire names (`$.mid`) → system property names. */
export const SYSTEM_PROPERTY_NAMES: Readonly<Record<string, string>> = {
  mid: 'messageId',
  cid: 'correlationId',
  uid: 'userId',
  to: 'to',
  ct: 'contentType',
  ce: 'contentEncoding',
  on: 'outputName',
  exp: 'expiryTimeUtc',
  ifid: 'interfaceId',
  cdid: 'connectionDeviceId',
  cmid: 'connectionModuleId',
  sub: 'dt-subject',
};

const WIRE_ORDER = ['mid', 'cid', 'uid', 'to', 'ct', 'ce', 'exp', 'cdid', 'cmid'] as const;

/**
 * Parses the property segment of a topic (`%24.mid=m1&%24.ct=application%2Fjson&k=v`). Keys and values
 * are URL-decoded; `$.x` keys become system properties, the rest application properties. Returns
 * undefined on malformed percent-encoding.
 */
export function parsePropertyBag(segment: string): Pick<EdgeMessage, 'systemProperties' | 'properties'> | undefined {
  const systemProperties: Record<string, string> = {};
  const properties: Record<string, string> = {};
  if (segment.length === 0) return { systemProperties, properties };
  for (const pair of segment.split('&')) {
    if (pair.length === 0) continue;
    const eq = pair.indexOf('=');
    let key: string;
    let value: string;
    try {
      key = decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq));
      value = eq < 0 ? '' : decodeURIComponent(pair.slice(eq + 1));
    } catch {
      return undefined;
    }
    if (key.startsWith('$.')) {
      const short = key.slice(2);
      const long = SYSTEM_PROPERTY_NAMES[short];
      if (long === 'dt-subject') properties['dt-subject'] = value;
      else systemProperties[long ?? short] = value;
    } else if (key.length > 0) {
      properties[key] = value;
    }
  }
  return { systemProperties, properties };
}

/** Formats the property segment of an input topic (what edgeHub sends to a module). */
export function formatPropertyBag(message: EdgeMessage): string {
  const parts: string[] = [];
  const longToShort = new Map(Object.entries(SYSTEM_PROPERTY_NAMES).map(([s, l]) => [l, s]));
  for (const short of WIRE_ORDER) {
    const long = SYSTEM_PROPERTY_NAMES[short];
    const value = long === undefined ? undefined : message.systemProperties[long];
    if (value !== undefined) parts.push(`%24.${short}=${encodeURIComponent(value)}`);
  }
  for (const [long, value] of Object.entries(message.systemProperties)) {
    const short = longToShort.get(long);
    if (short !== undefined && (WIRE_ORDER as readonly string[]).includes(short)) continue;
    if (long === 'outputName' || long === 'enqueuedTime') continue;
    if (short === undefined) continue;
    parts.push(`%24.${short}=${encodeURIComponent(value)}`);
  }
  for (const [key, value] of Object.entries(message.properties)) {
    parts.push(`${encodeURIComponent(key)}=${encodeURIComponent(value)}`);
  }
  return parts.join('&');
}
