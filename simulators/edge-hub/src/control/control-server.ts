import { type Server, createServer } from 'node:http';
import type { Logger } from '@takt/edge-kit';
import type { Hub } from '../hub.js';
import { readBody, parseJson, sendJson } from '../http/util.js';
import type { MessageQueue } from '../store/message-queue.js';
import { isJsonObject } from '../twin/twin-rules.js';
import type { TwinStore } from '../twin/twin-store.js';
import type { ControlStatus, EnvMode, ModuleEnvironment, UpstreamMessage } from './control-types.js';

/** What the control API can do to the emulator. */
export interface ControlTarget {
  hub: Hub;
  queue: MessageQueue;
  twins: TwinStore;
  moduleIds(): string[];
  ensureModule(moduleId: string): void;
  moduleEnvironment(moduleId: string, mode: EnvMode): ModuleEnvironment;
  dropConnections(): number;
  freeze(): void;
  thaw(): void;
}

export interface ControlServerOptions {
  host: string;
  port: number;
  target: ControlTarget;
  logger: Logger;
}

function toUpstreamMessage(record: ReturnType<MessageQueue['upstream']>[number]): UpstreamMessage {
  return {
    seq: record.seq,
    priority: record.priority,
    enqueuedAt: new Date(record.enqueuedMs).toISOString(),
    receivedAt: new Date(record.receivedMs).toISOString(),
    moduleId: record.message.systemProperties['connectionModuleId'],
    outputName: record.message.systemProperties['outputName'],
    body: record.message.body.toString('utf8'),
    bodyBase64: record.message.body.toString('base64'),
    systemProperties: record.message.systemProperties,
    properties: record.message.properties,
  };
}

/**
 * The control API for tests and the runner (plain HTTP on loopback, JSON):
 *
 * | call | does |
 * |---|---|
 * | `GET /status` | online/frozen, modules and their subscriptions, queue depths |
 * | `POST /upstream/offline`, `POST /upstream/online` | the cloud link switch |
 * | `GET /upstream?after=<seq>&limit=<n>` | messages the cloud received |
 * | `POST /connections/drop` | closes every MQTT and HTTPS connection |
 * | `POST /freeze`, `POST /thaw` | accept TCP but answer nothing / resume |
 * | `POST /store/purge-expired` | runs the TTL cleanup now |
 * | `GET /modules` · `PUT /modules/<id>` | module identities · create one |
 * | `GET /modules/<id>/env?mode=connection-string\|workload` | environment for a module process |
 * | `GET /twins/<id>` · `PATCH /twins/<id>/desired` · `PUT /twins/<id>/desired` | twin read and desired writes |
 * | `POST /modules/<id>/methods` | invoke a direct method `{methodName, payload, responseTimeoutInSeconds, connectTimeoutInSeconds}` |
 */
export class ControlServer {
  readonly #server: Server;

  private constructor(options: ControlServerOptions) {
    const { target, logger } = options;
    this.#server = createServer((req, res) => {
      void (async () => {
        const url = new URL(req.url ?? '/', 'http://control');
        const method = req.method ?? 'GET';
        const path = url.pathname.replace(/\/+$/, '') || '/';
        const body = async (): Promise<unknown> => {
          const raw = await readBody(req, 1024 * 1024);
          if (raw === undefined || raw.length === 0) return undefined;
          const parsed = parseJson(raw);
          return parsed.ok ? parsed.value : undefined;
        };
        if (method === 'GET' && path === '/status') {
          const connected = new Map(target.hub.connectedModules().map((c) => [c.moduleId, c]));
          const status: ControlStatus = {
            deviceId: target.hub.deviceId,
            hubHostName: target.hub.hubHostName,
            online: target.hub.online,
            frozen: target.hub.frozen,
            modules: target.moduleIds().map((moduleId) => ({
              moduleId,
              connected: connected.has(moduleId),
              inputsSubscribed: connected.get(moduleId)?.inputsSubscribed ?? false,
              methodsSubscribed: connected.get(moduleId)?.methodsSubscribed ?? false,
            })),
            queues: target.queue.depths(),
          };
          sendJson(res, 200, status);
          return;
        }
        if (method === 'POST' && (path === '/upstream/offline' || path === '/upstream/online')) {
          target.hub.setOnline(path.endsWith('online') && !path.endsWith('offline'));
          sendJson(res, 200, { online: target.hub.online });
          return;
        }
        if (method === 'GET' && path === '/upstream') {
          const after = Number(url.searchParams.get('after') ?? '0');
          const limit = Math.min(Math.max(Number(url.searchParams.get('limit') ?? '1000'), 1), 10_000);
          const records = target.queue.upstream(
            Number.isFinite(after) ? after : 0,
            Number.isFinite(limit) ? limit : 1000,
          );
          sendJson(res, 200, { messages: records.map(toUpstreamMessage) });
          return;
        }
        if (method === 'POST' && path === '/connections/drop') {
          sendJson(res, 200, { dropped: target.dropConnections() });
          return;
        }
        if (method === 'POST' && path === '/freeze') {
          target.freeze();
          sendJson(res, 200, { frozen: true });
          return;
        }
        if (method === 'POST' && path === '/thaw') {
          target.thaw();
          sendJson(res, 200, { frozen: false });
          return;
        }
        if (method === 'POST' && path === '/store/purge-expired') {
          sendJson(res, 200, { purged: target.hub.purgeExpired() });
          return;
        }
        if (method === 'GET' && path === '/modules') {
          sendJson(res, 200, { modules: target.moduleIds() });
          return;
        }
        let m = /^\/modules\/([A-Za-z0-9_-]+)$/.exec(path);
        if (method === 'PUT' && m?.[1] !== undefined) {
          target.ensureModule(m[1]);
          sendJson(res, 200, target.moduleEnvironment(m[1], 'connection-string'));
          return;
        }
        m = /^\/modules\/([A-Za-z0-9_-]+)\/env$/.exec(path);
        if (method === 'GET' && m?.[1] !== undefined) {
          if (!target.moduleIds().includes(m[1])) {
            sendJson(res, 404, { code: 'MODULE_UNKNOWN', message: `no module ${m[1]}` });
            return;
          }
          const mode = url.searchParams.get('mode') === 'workload' ? 'workload' : 'connection-string';
          sendJson(res, 200, target.moduleEnvironment(m[1], mode));
          return;
        }
        m = /^\/modules\/([A-Za-z0-9_-]+)\/methods$/.exec(path);
        if (method === 'POST' && m?.[1] !== undefined) {
          const request = await body();
          if (!isJsonObject(request) || typeof request['methodName'] !== 'string') {
            sendJson(res, 400, { code: 'ArgumentInvalid', message: 'expected {methodName, payload, …}' });
            return;
          }
          const outcome = await target.hub.invokeMethod(m[1], {
            methodName: request['methodName'],
            payload: request['payload'],
            ...(typeof request['responseTimeoutInSeconds'] === 'number'
              ? { responseTimeoutInSeconds: request['responseTimeoutInSeconds'] }
              : {}),
            ...(typeof request['connectTimeoutInSeconds'] === 'number'
              ? { connectTimeoutInSeconds: request['connectTimeoutInSeconds'] }
              : {}),
          });
          if (outcome.ok) sendJson(res, 200, { status: outcome.status, payload: outcome.payload });
          else sendJson(res, outcome.httpStatus, { code: outcome.errorCode, message: outcome.message });
          return;
        }
        m = /^\/twins\/([A-Za-z0-9_-]+)(\/desired)?$/.exec(path);
        if (m?.[1] !== undefined && target.moduleIds().includes(m[1])) {
          const moduleId = m[1];
          if (method === 'GET' && m[2] === undefined) {
            const twin = target.twins.get(moduleId);
            sendJson(res, 200, {
              desired: { ...twin.desired, $version: twin.desiredVersion },
              reported: { ...twin.reported, $version: twin.reportedVersion },
            });
            return;
          }
          if ((method === 'PATCH' || method === 'PUT') && m[2] !== undefined) {
            const result = target.hub.writeDesired(moduleId, await body(), method === 'PATCH' ? 'patch' : 'replace');
            if (result.ok) await target.hub.durable();
            if (result.ok) sendJson(res, 200, { version: result.twin.desiredVersion });
            else
              sendJson(res, result.violation.status, {
                code: 'ArgumentInvalid',
                message: result.violation.message,
                path: result.violation.path,
              });
            return;
          }
        }
        sendJson(res, 404, { code: 'NotFound', message: `${method} ${path} is not a control API call` });
      })().catch((error: unknown) => {
        logger.error('control API request failed', { error });
        sendJson(res, 500, { code: 'ServerError', message: 'internal error' });
      });
    });
  }

  static async start(options: ControlServerOptions): Promise<ControlServer> {
    const server = new ControlServer(options);
    await new Promise<void>((resolve, reject) => {
      server.#server.once('error', reject);
      server.#server.listen({ host: options.host, port: options.port }, () => resolve());
    });
    return server;
  }

  get url(): string {
    const address = this.#server.address();
    if (typeof address !== 'object' || address === null) return '';
    return `http://${address.address}:${address.port}`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
