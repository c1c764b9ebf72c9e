import { EdgeHubError } from '../errors.js';
import { type Condition, type ConditionInput, type QueryValue, compileCondition } from './condition.js';
import type { EdgeMessage } from './message.js';

/** Where a route sends messages. */
export type Endpoint = { kind: 'upstream' } | { kind: 'module'; moduleId: string; input: string };

/** A route's source filter. */
export type RouteSource =
  | { kind: 'all' }
  | { kind: 'twin-changes' }
  | { kind: 'messages' }
  | { kind: 'module-messages'; moduleId?: string }
  | { kind: 'module-outputs'; moduleId: string; output?: string };

/** One compiled `$edgeHub` route. */
export interface Route {
  name: string;
  source: RouteSource;
  condition: Condition | undefined;
  endpoint: Endpoint;
  /** 0 highest … 9; unset = lowest (2,000,000,000 as edgeHub). */
  priority: number;
  /** 0/unset → the global store-and-forward TTL. */
  timeToLiveSecs: number | undefined;
}

/** A route as written in the manifest: a string, or (schema 1.1+) an object. */
export type RouteSpec = string | { route: string; priority?: number; timeToLiveSecs?: number };

export const DEFAULT_PRIORITY = 2_000_000_000;

/** The stable key of an endpoint in the store: `$upstream` or `/modules/<id>/inputs/<input>`. */
export function endpointKey(endpoint: Endpoint): string {
  return endpoint.kind === 'upstream' ? '$upstream' : `/modules/${endpoint.moduleId}/inputs/${endpoint.input}`;
}

/** Inverse of {@link endpointKey}. */
export function parseEndpointKey(key: string): Endpoint | undefined {
  if (key === '$upstream') return { kind: 'upstream' };
  const m = /^\/modules\/([^/]+)\/inputs\/([^/]+)$/.exec(key);
  return m?.[1] !== undefined && m[2] !== undefined ? { kind: 'module', moduleId: m[1], input: m[2] } : undefined;
}

function parseSource(text: string): RouteSource | undefined {
  if (text === '/*') return { kind: 'all' };
  if (text === '/twinChangeNotifications') return { kind: 'twin-changes' };
  if (text === '/messages/*') return { kind: 'messages' };
  if (text === '/messages/modules/*') return { kind: 'module-messages' };
  let m = /^\/messages\/modules\/([A-Za-z0-9_-]+)\/\*$/.exec(text);
  if (m?.[1] !== undefined) return { kind: 'module-messages', moduleId: m[1] };
  m = /^\/messages\/modules\/([A-Za-z0-9_-]+)\/outputs\/\*$/.exec(text);
  if (m?.[1] !== undefined) return { kind: 'module-outputs', moduleId: m[1] };
  m = /^\/messages\/modules\/([A-Za-z0-9_-]+)\/outputs\/([^/*\s]+)$/.exec(text);
  if (m?.[1] !== undefined && m[2] !== undefined) return { kind: 'module-outputs', moduleId: m[1], output: m[2] };
  return undefined;
}

function parseSink(text: string): Endpoint | undefined {
  if (text === '$upstream') return { kind: 'upstream' };
  const m = /^BrokeredEndpoint\(\s*(["'])\/modules\/([A-Za-z0-9_-]+)\/inputs\/([^/"'\s]+)\1\s*\)$/i.exec(text);
  return m?.[2] !== undefined && m[3] !== undefined ? { kind: 'module', moduleId: m[2], input: m[3] } : undefined;
}

/** Compiles one route; throws ROUTE_INVALID naming the route and the reason. */
export function compileRoute(name: string, spec: RouteSpec): Route {
  const text = typeof spec === 'string' ? spec : spec.route;
  const fail = (reason: string): never => {
    throw new EdgeHubError('ROUTE_INVALID', `route ${name}: ${reason}`, { details: { route: name, text } });
  };
  const m = /^\s*FROM\s+(\S+)\s+(?:WHERE\s+([\s\S]+?)\s+)?INTO\s+(\$upstream|BrokeredEndpoint\s*\([^)]*\))\s*$/i.exec(
    text,
  );
  if (!m?.[1] || !m[3]) return fail('expected FROM <source> [WHERE <condition>] INTO <sink>');
  const source = parseSource(m[1]) ?? fail(`unknown source ${m[1]}`);
  const endpoint = parseSink(m[3].replace(/^BrokeredEndpoint\s*/i, 'BrokeredEndpoint')) ?? fail(`unknown sink ${m[3]}`);
  let condition: Condition | undefined;
  if (m[2] !== undefined) {
    try {
      condition = compileCondition(m[2]);
    } catch (error) {
      fail(`condition: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  const priority = typeof spec === 'string' ? undefined : spec.priority;
  if (priority !== undefined && (!Number.isInteger(priority) || priority < 0 || priority > 9))
    fail('priority must be 0–9');
  const ttl = typeof spec === 'string' ? undefined : spec.timeToLiveSecs;
  if (ttl !== undefined && (!Number.isInteger(ttl) || ttl < 0)) fail('timeToLiveSecs must be a non-negative integer');
  return {
    name,
    source,
    condition,
    endpoint,
    priority: priority ?? DEFAULT_PRIORITY,
    timeToLiveSecs: ttl === undefined || ttl === 0 ? undefined : ttl,
  };
}

/** Where one message goes: endpoint, priority and TTL (seconds; negative = forever). */
export interface RoutedTarget {
  endpoint: Endpoint;
  key: string;
  priority: number;
  timeToLiveSecs: number;
}

function sourceMatches(source: RouteSource, fromModule: string, output: string | undefined): boolean {
  switch (source.kind) {
    case 'all':
    case 'messages':
      return true;
    case 'twin-changes':
      return false;
    case 'module-messages':
      return source.moduleId === undefined || source.moduleId === fromModule;
    case 'module-outputs':
      return (
        source.moduleId === fromModule &&
        output !== undefined &&
        (source.output === undefined || source.output === output)
      );
  }
}

function isJsonUtf8(message: EdgeMessage): boolean {
  const ct = message.systemProperties['contentType']?.toLowerCase().split(';')[0]?.trim();
  const ce = message.systemProperties['contentEncoding']?.toLowerCase().trim();
  return ct === 'application/json' && (ce === 'utf-8' || ce === 'utf8');
}

/** The condition's view of a message; `$body` is parsed at most once. */
export function conditionInput(message: EdgeMessage): ConditionInput {
  let parsed: { value: QueryValue } | undefined;
  return {
    systemProperty: (name) => message.systemProperties[name],
    applicationProperty: (name) => message.properties[name],
    body: () => {
      if (parsed === undefined) {
        let value: QueryValue;
        if (isJsonUtf8(message)) {
          try {
            value = JSON.parse(message.body.toString('utf8')) as QueryValue;
          } catch {
            value = undefined;
          }
        }
        parsed = { value };
      }
      return parsed.value;
    },
  };
}

/**
 * Evaluates every route for a message from `fromModule` (output `output`). One target per endpoint:
 * if several routes reach the same endpoint, the highest priority and the longest TTL win.
 */
export function routeMessage(
  routes: readonly Route[],
  message: EdgeMessage,
  fromModule: string,
  output: string | undefined,
  defaultTtlSecs: number,
): RoutedTarget[] {
  const targets = new Map<string, RoutedTarget>();
  let input: ConditionInput | undefined;
  for (const route of routes) {
    if (!sourceMatches(route.source, fromModule, output)) continue;
    if (route.condition !== undefined) {
      input ??= conditionInput(message);
      if (!route.condition.matches(input)) continue;
    }
    const key = endpointKey(route.endpoint);
    const ttl = route.timeToLiveSecs ?? defaultTtlSecs;
    const existing = targets.get(key);
    if (existing === undefined) {
      targets.set(key, { endpoint: route.endpoint, key, priority: route.priority, timeToLiveSecs: ttl });
    } else {
      existing.priority = Math.min(existing.priority, route.priority);
      existing.timeToLiveSecs = existing.timeToLiveSecs < 0 || ttl < 0 ? -1 : Math.max(existing.timeToLiveSecs, ttl);
    }
  }
  return [...targets.values()];
}
