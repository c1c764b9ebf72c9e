import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EdgeHubError } from '../errors.js';

/** iotedgedev splits stringified createOptions into at most 8 chunks of 512 characters. */
export const CREATE_OPTIONS_CHUNK_CHARS = 512;
export const MAX_CREATE_OPTIONS_CHUNKS = 8;

export interface RenderOptions {
  /** Platform suffix of the images (`amd64`, `arm64v8`, `amd64.debug`). Default `amd64`. */
  platform?: string;
  /** Values for `$VAR` / `${VAR}` (the `.env` file merged with the environment). */
  variables?: Readonly<Record<string, string | undefined>>;
  /** Image of `${MODULES.<name>}`; default from `modules/<name>/module.json`, see {@link moduleImageFromFolder}. */
  image?: (moduleName: string, platform: string) => string;
}

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

const isObject = (value: unknown): value is { [key: string]: Json } =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * `${MODULES.<folder>}` for a module folder, as iotedgedev builds it from `module.json`:
 * `lower(repository):version-platform`. Without a module.json: `<registry>/takt-<name>:0.1.0-<platform>`.
 */
export function moduleImageFromFolder(
  repoRoot: string,
  variables: Readonly<Record<string, string | undefined>>,
): (moduleName: string, platform: string) => string {
  return (name, platform) => {
    const file = join(repoRoot, 'modules', name, 'module.json');
    const registry = variables['CONTAINER_REGISTRY_SERVER'] ?? 'localhost:5000';
    if (existsSync(file)) {
      const spec = JSON.parse(readFileSync(file, 'utf8')) as {
        image?: { repository?: string; tag?: { version?: string } };
      };
      const repository = substitute(spec.image?.repository ?? `${registry}/${name}`, variables, () => '');
      const version = spec.image?.tag?.version ?? '0.0.1';
      return `${repository.toLowerCase()}:${version}-${platform}`;
    }
    return `${registry}/takt-${name}:0.1.0-${platform}`.toLowerCase();
  };
}

function substitute(
  text: string,
  variables: Readonly<Record<string, string | undefined>>,
  image: (name: string) => string,
): string {
  return text
    .replace(/\$\{MODULES\.([A-Za-z0-9_.-]+)\}/g, (_all, ref: string) => image(ref))
    .replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (all, braced?: string, bare?: string) => {
      const name = braced ?? bare ?? '';
      // $edgeAgent, $edgeHub, $upstream … are manifest syntax, not variables
      if (bare !== undefined && !/^[A-Z0-9_]+$/.test(bare)) return all;
      return variables[name] ?? '';
    });
}

/** Splits stringified createOptions into `createOptions`, `createOptions01` … (512 characters each). */
export function chunkCreateOptions(createOptions: unknown): Record<string, string> {
  const text = typeof createOptions === 'string' ? createOptions : JSON.stringify(createOptions);
  const chunks: Record<string, string> = {};
  const count = Math.max(1, Math.ceil(text.length / CREATE_OPTIONS_CHUNK_CHARS));
  if (count > MAX_CREATE_OPTIONS_CHUNKS) {
    throw new EdgeHubError(
      'MANIFEST_INVALID',
      `createOptions of ${text.length} characters exceed ${MAX_CREATE_OPTIONS_CHUNKS} chunks of 512`,
      {
        details: { problems: [`createOptions is ${text.length} characters long`] },
      },
    );
  }
  for (let i = 0; i < count; i++) {
    const key = i === 0 ? 'createOptions' : `createOptions${String(i).padStart(2, '0')}`;
    chunks[key] = text.slice(i * CREATE_OPTIONS_CHUNK_CHARS, (i + 1) * CREATE_OPTIONS_CHUNK_CHARS);
  }
  return chunks;
}

function walk(value: Json, visit: (text: string) => string): Json {
  if (typeof value === 'string') return visit(value);
  if (Array.isArray(value)) return value.map((item) => walk(item, visit));
  if (isObject(value)) {
    const out: { [key: string]: Json } = {};
    for (const [key, item] of Object.entries(value)) out[key] = walk(item, visit);
    return out;
  }
  return value;
}

function renderSettings(settings: Json): void {
  if (!isObject(settings)) return;
  const createOptions = settings['createOptions'];
  if (createOptions === undefined) return;
  for (const key of Object.keys(settings)) if (/^createOptions\d+$/i.test(key)) delete settings[key];
  delete settings['createOptions'];
  Object.assign(settings, chunkCreateOptions(createOptions));
}

/**
 * Renders a `deployment.template.json` (iotedgedev / VS Code, `$schema-template` 4.0.0) into the manifest
 * `az iot edge set-modules --content` takes: placeholders replaced, createOptions stringified and chunked,
 * registry credentials without a user name left out, the template header removed.
 */
export function renderTemplate(
  template: unknown,
  options: RenderOptions = {},
): { modulesContent: Record<string, Json> } {
  if (!isObject(template) || !isObject(template['modulesContent'])) {
    throw new EdgeHubError('MANIFEST_INVALID', 'the template has no modulesContent object', {
      details: { problems: ['modulesContent: missing or not an object'] },
    });
  }
  const platform = options.platform ?? 'amd64';
  const variables = options.variables ?? {};
  const registry = variables['CONTAINER_REGISTRY_SERVER'] ?? 'localhost:5000';
  const image = options.image ?? ((name: string, p: string) => `${registry}/takt-${name}:0.1.0-${p}`.toLowerCase());
  const imageRef = (ref: string): string => {
    const [name, refPlatform] = ref.split(/\.(.+)/) as [string, string | undefined];
    return image(name, refPlatform ?? platform);
  };
  const content = walk(template['modulesContent'], (text) => substitute(text, variables, imageRef)) as Record<
    string,
    Json
  >;
  const agent = content['$edgeAgent'];
  const desired = isObject(agent) ? agent['properties.desired'] : undefined;
  if (isObject(desired)) {
    const runtime = desired['runtime'];
    const runtimeSettings = isObject(runtime) ? runtime['settings'] : undefined;
    const credentials = isObject(runtimeSettings) ? runtimeSettings['registryCredentials'] : undefined;
    if (isObject(credentials)) {
      for (const [name, entry] of Object.entries(credentials)) {
        if (!isObject(entry) || entry['username'] === '' || entry['address'] === '') delete credentials[name];
      }
    }
    const systemModules = desired['systemModules'];
    const modules = desired['modules'];
    for (const group of [systemModules, modules]) {
      if (!isObject(group)) continue;
      for (const module of Object.values(group)) if (isObject(module)) renderSettings(module['settings'] ?? null);
    }
  }
  return { modulesContent: content };
}
