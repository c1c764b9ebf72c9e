import { existsSync, unlinkSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { Logger } from '@takt/edge-kit';
import type { IdentityRegistry } from '../identity/registry.js';
import { parseJson, readBody, sendJson } from './util.js';

/** Where the workload API listens: a unix socket path, or a loopback TCP address. */
export type WorkloadListen = { socketPath: string } | { host: string; port: number };

export interface WorkloadApiOptions {
  listen: WorkloadListen;
  identities: IdentityRegistry;
  caCertPem: string;
  logger: Logger;
}

/**
 * The IoT Edge workload API as `ModuleClient.fromEnvironment` uses it (api-version 2018-06-28, plain
 * HTTP): `GET /trust-bundle` and `POST /modules/<id>/genid/<gen>/sign` (HMAC-SHA256 with the module's
 * primary key). The SDK parses only `application/json` answers.
 */
export class WorkloadApi {
  readonly #server: Server;
  readonly #listen: WorkloadListen;

  private constructor(options: WorkloadApiOptions) {
    this.#listen = options.listen;
    this.#server = createServer((req, res) => {
      void (async () => {
        const url = new URL(req.url ?? '/', 'http://workload');
        if (req.method === 'GET' && url.pathname === '/trust-bundle') {
          sendJson(res, 200, { certificate: options.caCertPem });
          return;
        }
        const m = /^\/modules\/([^/]+)\/genid\/([^/]+)\/sign$/.exec(url.pathname);
        if (req.method === 'POST' && m?.[1] !== undefined && m[2] !== undefined) {
          const moduleId = decodeURIComponent(m[1]);
          const identity = options.identities.get(moduleId);
          if (identity === undefined || identity.generationId !== decodeURIComponent(m[2])) {
            sendJson(res, 404, { message: `Module not found: ${moduleId}` });
            return;
          }
          const body = await readBody(req, 64 * 1024);
          const parsed = body === undefined ? { ok: false as const } : parseJson(body);
          const request = parsed.ok ? (parsed.value as { keyId?: unknown; algo?: unknown; data?: unknown }) : undefined;
          if (
            request === undefined ||
            request === null ||
            request.algo !== 'HMACSHA256' ||
            (request.keyId !== 'primary' && request.keyId !== 'secondary') ||
            typeof request.data !== 'string'
          ) {
            sendJson(res, 400, { message: 'expected {"keyId":"primary","algo":"HMACSHA256","data":"<base64>"}' });
            return;
          }
          sendJson(res, 200, { digest: options.identities.sign(moduleId, request.data) });
          return;
        }
        sendJson(res, 404, { message: `no resource at ${url.pathname}` });
      })().catch((error: unknown) => {
        options.logger.error('workload API request failed', { error });
        sendJson(res, 500, { message: 'internal error' });
      });
    });
  }

  static async start(options: WorkloadApiOptions): Promise<WorkloadApi> {
    const api = new WorkloadApi(options);
    await new Promise<void>((resolve, reject) => {
      api.#server.once('error', reject);
      if ('socketPath' in options.listen) {
        if (existsSync(options.listen.socketPath)) unlinkSync(options.listen.socketPath);
        api.#server.listen(options.listen.socketPath, () => resolve());
      } else {
        api.#server.listen({ host: options.listen.host, port: options.listen.port }, () => resolve());
      }
    });
    return api;
  }

  /** `unix:///path/workload.sock` or `http://127.0.0.1:PORT/`: the value for IOTEDGE_WORKLOADURI. */
  get uri(): string {
    if ('socketPath' in this.#listen) return `unix://${this.#listen.socketPath}`;
    const address = this.#server.address();
    const port = typeof address === 'object' && address !== null ? address.port : this.#listen.port;
    return `http://${this.#listen.host}:${port}/`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    if ('socketPath' in this.#listen && existsSync(this.#listen.socketPath)) unlinkSync(this.#listen.socketPath);
  }
}
