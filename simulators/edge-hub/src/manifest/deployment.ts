import { readFileSync } from 'node:fs';
import { EdgeHubError } from '../errors.js';
import { type Route, type RouteSpec, compileRoute } from '../routing/routes.js';
import { type JsonObject, isJsonObject } from '../twin/twin-rules.js';
import { renderTemplate } from './render.js';

/** What the emulator takes from a deployment manifest. */
export interface Deployment {
  /** Custom modules (from `$edgeAgent` and from module twin sections), with initial desired properties. */
  modules: { moduleId: string; desired: JsonObject | undefined }[];
  routes: Route[];
  /** `storeAndForwardConfiguration.timeToLiveSecs`, default 7200; negative = forever. */
  defaultTtlSecs: number;
}

const invalid = (problem: string): never => {
  throw new EdgeHubError('MANIFEST_INVALID', `deployment manifest: ${problem}`, { details: { problems: [problem] } });
};

/**
 * Reads modules, routes and store-and-forward settings from a manifest (`{modulesContent}`,
 * `{content:{modulesContent}}`, or a template with `$schema-template`, which is rendered first).
 */
export function parseDeployment(document: unknown): Deployment {
  let doc = document;
  if (isJsonObject(doc) && isJsonObject(doc['content'])) doc = doc['content'];
  if (isJsonObject(doc) && '$schema-template' in doc) doc = renderTemplate(doc);
  if (!isJsonObject(doc) || !isJsonObject(doc['modulesContent'])) return invalid('modulesContent is missing');
  const content = doc['modulesContent'];
  const hubSection = content['$edgeHub'];
  const hub = isJsonObject(hubSection) ? hubSection['properties.desired'] : undefined;
  if (!isJsonObject(hub)) return invalid('$edgeHub.properties.desired is missing');
  const routes: Route[] = [];
  const routeSpecs = hub['routes'];
  if (!isJsonObject(routeSpecs)) return invalid('$edgeHub routes must be an object');
  for (const [name, spec] of Object.entries(routeSpecs)) {
    if (typeof spec !== 'string' && !(isJsonObject(spec) && typeof spec['route'] === 'string')) {
      return invalid(`route ${name} must be a string or {route, priority, timeToLiveSecs}`);
    }
    routes.push(compileRoute(name, spec as RouteSpec));
  }
  const sf = hub['storeAndForwardConfiguration'];
  const ttl = isJsonObject(sf) ? sf['timeToLiveSecs'] : undefined;
  if (ttl !== undefined && (typeof ttl !== 'number' || !Number.isInteger(ttl))) {
    return invalid('storeAndForwardConfiguration.timeToLiveSecs must be an integer');
  }
  const moduleIds = new Set<string>();
  const agentSection = content['$edgeAgent'];
  const agent = isJsonObject(agentSection) ? agentSection['properties.desired'] : undefined;
  const agentModules = isJsonObject(agent) ? agent['modules'] : undefined;
  if (isJsonObject(agentModules)) for (const id of Object.keys(agentModules)) moduleIds.add(id);
  for (const id of Object.keys(content)) if (!id.startsWith('$')) moduleIds.add(id);
  const modules = [...moduleIds].sort().map((moduleId) => {
    const section = content[moduleId];
    const desired = isJsonObject(section) ? section['properties.desired'] : undefined;
    return { moduleId, desired: isJsonObject(desired) ? desired : undefined };
  });
  return { modules, routes, defaultTtlSecs: typeof ttl === 'number' && ttl !== 0 ? ttl : 7200 };
}

/** Reads and parses a manifest or template file. */
export function readDeploymentFile(path: string): Deployment {
  let document: unknown;
  try {
    document = JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch (error) {
    throw new EdgeHubError('MANIFEST_INVALID', `cannot read the deployment manifest ${path}`, {
      cause: error,
      details: { problems: [error instanceof Error ? error.message : String(error)] },
    });
  }
  return parseDeployment(document);
}
