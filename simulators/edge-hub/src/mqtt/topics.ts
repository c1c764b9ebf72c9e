import { parsePropertyBag } from '../routing/message.js';

/** What a module may publish, parsed from the topic. */
export type ModulePublish =
  | { kind: 'event'; systemProperties: Record<string, string>; properties: Record<string, string> }
  | { kind: 'twin-get'; rid: string }
  | { kind: 'twin-reported'; rid: string }
  | { kind: 'method-response'; rid: string; status: number };

function queryParams(query: string): Map<string, string> | undefined {
  const out = new Map<string, string>();
  for (const pair of query.split('&')) {
    if (pair.length === 0) continue;
    const eq = pair.indexOf('=');
    try {
      out.set(
        decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq)),
        eq < 0 ? '' : decodeURIComponent(pair.slice(eq + 1)),
      );
    } catch {
      return undefined;
    }
  }
  return out;
}

/**
 * Parses a topic a module published to. Only its own events topic and the `$iothub` request topics
 * are accepted; anything else is undefined (the broker refuses it).
 */
export function parseModuleTopic(topic: string, deviceId: string, moduleId: string): ModulePublish | undefined {
  const eventsPrefix = `devices/${deviceId}/modules/${moduleId}/messages/events`;
  if (topic === eventsPrefix || topic.startsWith(`${eventsPrefix}/`)) {
    let rest = topic.slice(eventsPrefix.length + 1);
    if (rest.endsWith('/')) rest = rest.slice(0, -1);
    if (rest.includes('/')) return undefined;
    const bag = parsePropertyBag(rest);
    return bag === undefined ? undefined : { kind: 'event', ...bag };
  }
  if (!topic.startsWith('$iothub/')) return undefined;
  const q = topic.indexOf('?');
  const path = q < 0 ? topic : topic.slice(0, q);
  const params = queryParams(q < 0 ? '' : topic.slice(q + 1));
  const rid = params?.get('$rid');
  if (rid === undefined || rid.length === 0 || rid.length > 128) return undefined;
  if (path === '$iothub/twin/GET/') return { kind: 'twin-get', rid };
  if (path === '$iothub/twin/PATCH/properties/reported/') return { kind: 'twin-reported', rid };
  const method = /^\$iothub\/methods\/res\/(\d{1,3})\/$/.exec(path);
  if (method?.[1] !== undefined) return { kind: 'method-response', rid, status: Number(method[1]) };
  return undefined;
}

/** The subscriptions a module may hold; anything else is refused (SUBACK 0x80). */
export function allowedSubscription(
  filter: string,
  deviceId: string,
  moduleId: string,
): 'twin-res' | 'desired' | 'methods' | 'inputs' | undefined {
  if (filter === '$iothub/twin/res/#') return 'twin-res';
  if (filter === '$iothub/twin/PATCH/properties/desired/#') return 'desired';
  if (filter === '$iothub/methods/POST/#') return 'methods';
  if (filter === `devices/${deviceId}/modules/${moduleId}/inputs/#`) return 'inputs';
  return undefined;
}
