import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Server, createServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Logger } from '@takt/edge-kit';
import type { Hub, MethodRequest } from '../hub.js';
import { MAX_METHOD_PAYLOAD_BYTES } from '../hub.js';
import type { IdentityRegistry } from '../identity/registry.js';
import { NetGate } from '../net-gate.js';
import { isJsonObject } from '../twin/twin-rules.js';
import type { ModuleTwinState, TwinStore } from '../twin/twin-store.js';
import { iotHubError, parseJson, readBody, sendJson } from './util.js';

export interface IotHubApiOptions {
  host: string;
  port: number;
  tls: { cert: string; key: string };
  hub: Hub;
  identities: IdentityRegistry;
  twins: TwinStore;
  logger: Logger;
}

/** Twin JSON as the IoT Hub service API returns it. */
export function serviceTwin(hub: Hub, twin: ModuleTwinState, connected: boolean): Record<string, unknown> {
  return {
    deviceId: hub.deviceId,
    moduleId: twin.moduleId,
    etag: twinEtag(twin),
    status: 'enabled',
    connectionState: connected ? 'Connected' : 'Disconnected',
    version: twin.desiredVersion + twin.reportedVersion,
    properties: {
      desired: { ...twin.desired, $version: twin.desiredVersion },
      reported: { ...twin.reported, $version: twin.reportedVersion },
    },
  };
}

export function twinEtag(twin: ModuleTwinState): string {
  return Buffer.from(`${twin.desiredVersion}.${twin.reportedVersion}`).toString('base64');
}

// body of a method call: the payload plus its envelope
const MAX_METHOD_BODY_BYTES = MAX_METHOD_PAYLOAD_BYTES + 4096;
const MAX_TWIN_BODY_BYTES = 64 * 1024;

/**
 * HTTPS on the gateway address, port 443: module-to-module `invokeMethod` (the SDK's fixed port, no
 * api-version, the caller's module token) and the IoT Hub service API the azure-iothub SDK uses
 * (module twin read / patch / replace, module direct methods, module identities), authorised with a
 * token of the `iothubowner` policy.
 */
export class IotHubApi {
  readonly gate: NetGate;
  readonly #server: Server;
  readonly #options: IotHubApiOptions;
  #frozen = false;
  readonly #held: (() => void)[] = [];

  private constructor(options: IotHubApiOptions) {
    this.#options = options;
    this.#server = createServer({ cert: options.tls.cert, key: options.tls.key }, (req, res) => {
      const run = (): void => {
        this.#handle(req, res).catch((error: unknown) => {
          options.logger.error('IoT Hub API request failed', { error, url: req.url });
          iotHubError(res, 500, 'ServerError', 'internal error');
        });
      };
      if (this.#frozen) this.#held.push(run);
      else run();
    });
    this.#server.on('tlsClientError', (error) => options.logger.debug('TLS handshake failed', { error }));
    this.gate = new NetGate((socket: Socket) => this.#server.emit('connection', socket));
  }

  static async start(options: IotHubApiOptions): Promise<IotHubApi> {
    const api = new IotHubApi(options);
    await api.gate.listen(options.host, options.port);
    return api;
  }

  get port(): number {
    const address = this.gate.server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  freeze(): void {
    this.#frozen = true;
    this.gate.freeze();
  }

  thaw(): void {
    this.#frozen = false;
    this.gate.thaw();
    for (const run of this.#held.splice(0, this.#held.length)) run();
  }

  async close(): Promise<void> {
    this.#held.length = 0;
    this.#server.closeAllConnections();
    await this.gate.close();
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { hub, identities, twins } = this.#options;
    const url = new URL(req.url ?? '/', 'https://gateway');
    const method = req.method ?? 'GET';
    const token = req.headers.authorization ?? '';
    const m = /^\/(twins|devices)\/([^/]+)\/modules(?:\/([^/]+))?(\/methods)?\/?$/.exec(url.pathname);
    if (m === null) {
      iotHubError(res, 404, 'NotFound', `no resource at ${url.pathname}`);
      return;
    }
    const deviceId = decodeURIComponent(m[2] ?? '');
    const moduleId = m[3] === undefined ? undefined : decodeURIComponent(m[3]);
    const isService = identities.verifyServiceToken(token, Date.now()) === undefined;
    const isMethodCall = m[1] === 'twins' && m[4] !== undefined && method === 'POST' && moduleId !== undefined;

    if (!isService) {
      // module-to-module methods: the caller's own token and x-ms-edge-moduleId
      const caller = isMethodCall ? hub.callerModule(token) : undefined;
      const claimed = req.headers['x-ms-edge-moduleid'];
      if (caller === undefined || (typeof claimed === 'string' && claimed !== `${hub.deviceId}/${caller}`)) {
        iotHubError(res, 401, 'IotHubUnauthorizedAccess', 'Unauthorized');
        return;
      }
    }
    if (deviceId !== hub.deviceId || (moduleId !== undefined && identities.get(moduleId) === undefined)) {
      iotHubError(res, 404, 'DeviceNotFound', `Client ${deviceId}/${moduleId ?? ''} not found`);
      return;
    }

    if (isMethodCall && moduleId !== undefined) {
      const body = await readBody(req, MAX_METHOD_BODY_BYTES);
      if (body === undefined) {
        iotHubError(res, 413, 'MessageTooLarge', 'method payload exceeds 128 KB');
        return;
      }
      const parsed = parseJson(body);
      if (!parsed.ok || !isJsonObject(parsed.value)) {
        iotHubError(res, 400, 'ArgumentInvalid', 'the body must be a JSON object with methodName');
        return;
      }
      const outcome = await hub.invokeMethod(moduleId, parsed.value as unknown as MethodRequest);
      if (outcome.ok) sendJson(res, 200, { status: outcome.status, payload: outcome.payload });
      else iotHubError(res, outcome.httpStatus, outcome.errorCode, outcome.message);
      return;
    }

    if (m[1] === 'twins' && moduleId !== undefined && m[4] === undefined) {
      const connected = hub.connectedModules().some((c) => c.moduleId === moduleId);
      if (method === 'GET') {
        sendJson(res, 200, serviceTwin(hub, twins.get(moduleId), connected));
        return;
      }
      if (method === 'PATCH' || method === 'PUT') {
        const body = await readBody(req, MAX_TWIN_BODY_BYTES);
        if (body === undefined) {
          iotHubError(res, 413, 'RequestEntityTooLarge', 'twin update too large');
          return;
        }
        const parsed = parseJson(body);
        if (!parsed.ok || !isJsonObject(parsed.value)) {
          iotHubError(res, 400, 'ArgumentInvalid', 'the body must be a twin JSON object');
          return;
        }
        const ifMatch = req.headers['if-match']?.replace(/"/g, '');
        const current = twins.get(moduleId);
        if (ifMatch !== undefined && ifMatch !== '*' && ifMatch !== twinEtag(current)) {
          iotHubError(res, 412, 'PreconditionFailed', 'the twin has changed since it was read (etag mismatch)');
          return;
        }
        const properties = parsed.value['properties'];
        const desired = isJsonObject(properties) ? properties['desired'] : undefined;
        if (desired !== undefined) {
          const result = hub.writeDesired(moduleId, desired, method === 'PATCH' ? 'patch' : 'replace');
          if (!result.ok) {
            sendJson(res, result.violation.status, {
              Message: result.violation.message,
              ExceptionMessage: '',
              path: result.violation.path,
            });
            return;
          }
        }
        await hub.durable();
        sendJson(res, 200, serviceTwin(hub, twins.get(moduleId), connected));
        return;
      }
    }

    if (m[1] === 'devices' && method === 'GET' && m[4] === undefined) {
      const describe = (id: string): Record<string, unknown> => {
        const identity = identities.get(id);
        return {
          deviceId: hub.deviceId,
          moduleId: id,
          generationId: identity?.generationId,
          managedBy: 'iotEdge',
          connectionState: hub.connectedModules().some((c) => c.moduleId === id) ? 'Connected' : 'Disconnected',
          authentication: {
            type: 'sas',
            symmetricKey: { primaryKey: identity?.primaryKey, secondaryKey: identity?.secondaryKey },
          },
        };
      };
      if (moduleId === undefined)
        sendJson(
          res,
          200,
          identities.list().map((i) => describe(i.moduleId)),
        );
      else sendJson(res, 200, describe(moduleId));
      return;
    }
    iotHubError(res, 405, 'MethodNotAllowed', `${method} is not supported on ${url.pathname}`);
  }
}
