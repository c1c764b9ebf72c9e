import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Listener, httpListener } from '../endpoint.js';
import { HttpError, readBody, readJson, sendJson } from '../http-util.js';
import { applyPatch, parsePatch } from './json-patch.js';
import { compileQuery } from './query.js';

/** Options of {@link startDigitalTwinsEmulator}. */
export interface DigitalTwinsEmulatorOptions {
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  tls: { cert: string; key: string };
  /** Writes per second one twin accepts before answering 429 (the service limit, not adjustable). Default 10. */
  maxWritesPerTwinPerSecond?: number;
}

/** One accepted write to a twin, for tests and diagnostics. */
export interface TwinWrite {
  twinId: string;
  method: 'PUT' | 'PATCH' | 'DELETE';
  at: number;
}

type Json = Record<string, unknown>;

/** The running Digital Twins emulator. */
export interface DigitalTwinsEmulator {
  readonly url: string;
  readonly listener: Listener;
  /** Every accepted twin write, in order. */
  writes(twinId?: string): TwinWrite[];
  /** Writes refused with 429 because of the per-twin limit. */
  throttled(): number;
  twin(id: string): Json | undefined;
  twins(): Json[];
  relationships(): Json[];
  models(): Json[];
  close(): Promise<void>;
}

const API_VERSION = '2022-05-31';

/**
 * An Azure Digital Twins data-plane emulator (HTTPS only: core-http refuses bearer tokens over http):
 * models, twins with ETags, JSON Patch with `If-Match`, relationships, a query subset, telemetry, the
 * per-twin write limit (429), and the two Entra ID endpoints `ClientSecretCredential` calls when its
 * `authorityHost` points here.
 */
export async function startDigitalTwinsEmulator(options: DigitalTwinsEmulatorOptions): Promise<DigitalTwinsEmulator> {
  const host = options.host ?? '127.0.0.1';
  const limit = options.maxWritesPerTwinPerSecond ?? 10;
  const models = new Map<string, Json>();
  const twins = new Map<string, Json>();
  const relationships = new Map<string, Map<string, Json>>();
  const writeLog: TwinWrite[] = [];
  const recent = new Map<string, number[]>();
  let throttled = 0;

  const etag = (): string => `W/"${randomUUID()}"`;
  const base = (): string => `https://${host}:${listener.port}`;

  const admitWrite = (twinId: string, method: TwinWrite['method']): void => {
    const now = Date.now();
    const times = (recent.get(twinId) ?? []).filter((t) => now - t < 1_000);
    if (times.length >= limit) {
      throttled += 1;
      throw new HttpError(429, 'TooManyRequests', `more than ${limit} writes per second to twin ${twinId}`);
    }
    times.push(now);
    recent.set(twinId, times);
    writeLog.push({ twinId, method, at: now });
  };

  const requireTwin = (id: string): Json => {
    const twin = twins.get(id);
    if (!twin)
      throw new HttpError(404, 'DigitalTwinNotFound', `There is no digital twin instance with the provided id ${id}.`);
    return twin;
  };

  const checkIfMatch = (req: IncomingMessage, current: string | undefined): void => {
    const ifMatch = req.headers['if-match'];
    if (ifMatch !== undefined && ifMatch !== '*' && ifMatch !== current) {
      throw new HttpError(412, 'PreconditionFailed', 'If-Match header value does not match the current ETag.');
    }
  };

  const handler = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const method = req.method ?? 'GET';
    // Entra ID endpoints (ClientSecretCredential with authorityHost = this emulator)
    if (parts[1] === 'v2.0' && parts[2] === '.well-known') {
      const t = parts[0] ?? 'tenant';
      sendJson(res, 200, {
        token_endpoint: `${base()}/${t}/oauth2/v2.0/token`,
        authorization_endpoint: `${base()}/${t}/oauth2/v2.0/authorize`,
        end_session_endpoint: `${base()}/${t}/oauth2/v2.0/logout`,
        issuer: `${base()}/${t}/v2.0`,
        jwks_uri: `${base()}/${t}/discovery/v2.0/keys`,
        response_types_supported: ['code', 'id_token', 'token'],
        scopes_supported: ['openid'],
      });
      return;
    }
    if (parts[1] === 'oauth2' && parts[3] === 'token' && method === 'POST') {
      await readBody(req);
      sendJson(res, 200, {
        token_type: 'Bearer',
        expires_in: 3600,
        ext_expires_in: 3600,
        access_token: `emulator-${randomUUID()}`,
      });
      return;
    }
    if (parts[0] === '_emulator') {
      sendJson(res, 200, { writes: writeLog, throttled });
      return;
    }
    if (!/^Bearer \S+/.test(req.headers.authorization ?? '')) {
      throw new HttpError(401, 'Unauthorized', 'a bearer token is required');
    }
    if (url.searchParams.get('api-version') === null) {
      throw new HttpError(400, 'MissingApiVersionParameter', 'the api-version query parameter is required');
    }
    const [collection, id, sub, subId] = parts;
    if (collection === 'models') {
      if (method === 'POST' && id === undefined) {
        const body = await readJson(req);
        if (!Array.isArray(body)) throw new HttpError(400, 'InvalidArgument', 'expected an array of models');
        const created: Json[] = [];
        for (const raw of body as Json[]) {
          const modelId = raw['@id'];
          if (typeof modelId !== 'string') throw new HttpError(400, 'InvalidArgument', 'a model has no @id');
          if (models.has(modelId)) throw new HttpError(409, 'ModelAlreadyExists', `model ${modelId} exists`);
          created.push({ id: modelId, model: raw });
        }
        const uploadTime = new Date().toISOString();
        const answer = created.map((c) => {
          const entry = { id: c.id, uploadTime, decommissioned: false, model: c.model };
          models.set(c.id as string, entry);
          return { id: c.id, uploadTime, decommissioned: false };
        });
        sendJson(res, 201, answer);
        return;
      }
      if (method === 'GET' && id === undefined) {
        const include = url.searchParams.get('includeModelDefinition') === 'true';
        sendJson(res, 200, {
          value: [...models.values()].map((m) => (include ? m : { ...m, model: undefined })),
          nextLink: null,
        });
        return;
      }
      if (method === 'GET' && id !== undefined) {
        const model = models.get(id);
        if (!model) throw new HttpError(404, 'ModelNotFound', `model ${id} not found`);
        sendJson(res, 200, model);
        return;
      }
      if (method === 'DELETE' && id !== undefined) {
        if (!models.delete(id)) throw new HttpError(404, 'ModelNotFound', `model ${id} not found`);
        sendJson(res, 204, undefined);
        return;
      }
    }
    if (collection === 'query' && method === 'POST') {
      const body = (await readJson(req)) as { query?: unknown } | undefined;
      if (typeof body?.query !== 'string') throw new HttpError(400, 'InvalidArgument', 'query is required');
      const match = compileQuery(body.query);
      sendJson(res, 200, { value: [...twins.values()].filter(match), continuationToken: null });
      return;
    }
    if (collection === 'digitaltwins' && id !== undefined) {
      if (sub === undefined) {
        if (method === 'GET') {
          const twin = requireTwin(id);
          sendJson(res, 200, twin, { etag: twin['$etag'] as string });
          return;
        }
        if (method === 'PUT') {
          const body = (await readJson(req)) as Json | undefined;
          const model = (body?.['$metadata'] as { $model?: unknown } | undefined)?.$model;
          if (typeof model !== 'string') throw new HttpError(400, 'InvalidArgument', '$metadata.$model is required');
          if (!models.has(model)) throw new HttpError(400, 'ModelNotFound', `model ${model} was not uploaded`);
          const existing = twins.get(id);
          if (req.headers['if-none-match'] === '*' && existing) {
            throw new HttpError(412, 'PreconditionFailed', `twin ${id} already exists`);
          }
          checkIfMatch(req, existing?.['$etag'] as string | undefined);
          if (Buffer.byteLength(JSON.stringify(body)) > 32 * 1024) {
            throw new HttpError(400, 'InvalidArgument', 'twin larger than 32 KB');
          }
          admitWrite(id, 'PUT');
          const twin: Json = { ...body, $dtId: id, $etag: etag(), $metadata: { $model: model } };
          twins.set(id, twin);
          sendJson(res, 200, twin, { etag: twin['$etag'] as string });
          return;
        }
        if (method === 'PATCH') {
          const twin = requireTwin(id);
          const type = req.headers['content-type'] ?? '';
          if (!type.startsWith('application/json-patch+json')) {
            throw new HttpError(
              400,
              'InvalidArgument',
              `content-type must be application/json-patch+json, got ${type}`,
            );
          }
          checkIfMatch(req, twin['$etag'] as string);
          const ops = parsePatch(await readJson(req));
          const next = applyPatch(twin, ops);
          admitWrite(id, 'PATCH');
          next['$etag'] = etag();
          twins.set(id, next);
          sendJson(res, 204, undefined, { etag: next['$etag'] as string });
          return;
        }
        if (method === 'DELETE') {
          const twin = requireTwin(id);
          checkIfMatch(req, twin['$etag'] as string);
          if ((relationships.get(id)?.size ?? 0) > 0) {
            throw new HttpError(400, 'DigitalTwinHasRelationships', `delete the relationships of ${id} first`);
          }
          admitWrite(id, 'DELETE');
          twins.delete(id);
          sendJson(res, 204, undefined);
          return;
        }
      }
      if (sub === 'telemetry' && method === 'POST') {
        requireTwin(id);
        await readBody(req);
        sendJson(res, 204, undefined);
        return;
      }
      if (sub === 'relationships') {
        requireTwin(id);
        const own = relationships.get(id) ?? new Map<string, Json>();
        relationships.set(id, own);
        if (subId === undefined && method === 'GET') {
          const name = url.searchParams.get('relationshipName');
          const value = [...own.values()].filter((r) => name === null || r['$relationshipName'] === name);
          sendJson(res, 200, { value, nextLink: null });
          return;
        }
        if (subId !== undefined && method === 'PUT') {
          const body = (await readJson(req)) as Json | undefined;
          const target = body?.['$targetId'];
          const name = body?.['$relationshipName'];
          if (typeof target !== 'string' || typeof name !== 'string') {
            throw new HttpError(400, 'InvalidArgument', '$targetId and $relationshipName are required');
          }
          if (!twins.has(target)) throw new HttpError(400, 'DigitalTwinNotFound', `target twin ${target} not found`);
          const existing = own.get(subId);
          if (req.headers['if-none-match'] === '*' && existing) {
            throw new HttpError(412, 'PreconditionFailed', `relationship ${subId} already exists`);
          }
          checkIfMatch(req, existing?.['$etag'] as string | undefined);
          const rel: Json = { ...body, $relationshipId: subId, $sourceId: id, $etag: etag() };
          own.set(subId, rel);
          sendJson(res, 200, rel, { etag: rel['$etag'] as string });
          return;
        }
        if (subId !== undefined && method === 'GET') {
          const rel = own.get(subId);
          if (!rel) throw new HttpError(404, 'RelationshipNotFound', `relationship ${subId} not found`);
          sendJson(res, 200, rel, { etag: rel['$etag'] as string });
          return;
        }
        if (subId !== undefined && method === 'DELETE') {
          if (!own.delete(subId)) throw new HttpError(404, 'RelationshipNotFound', `relationship ${subId} not found`);
          sendJson(res, 204, undefined);
          return;
        }
      }
      if (sub === 'incomingrelationships' && method === 'GET') {
        const value = [...relationships.values()]
          .flatMap((m) => [...m.values()])
          .filter((r) => r['$targetId'] === id)
          .map((r) => ({
            $relationshipId: r['$relationshipId'],
            $sourceId: r['$sourceId'],
            $relationshipName: r['$relationshipName'],
          }));
        sendJson(res, 200, { value, nextLink: null });
        return;
      }
    }
    throw new HttpError(404, 'NotFound', `${method} ${url.pathname} is not part of the emulated API (${API_VERSION})`);
  };

  const listener = httpListener('Digital Twins emulator', host, options.port ?? 0, options.tls, handler);
  await listener.start();
  return {
    get url() {
      return base();
    },
    listener,
    writes: (twinId) => writeLog.filter((w) => twinId === undefined || w.twinId === twinId),
    throttled: () => throttled,
    twin: (id) => twins.get(id),
    twins: () => [...twins.values()],
    relationships: () => [...relationships.values()].flatMap((m) => [...m.values()]),
    models: () => [...models.values()],
    close: () => listener.close(),
  };
}
