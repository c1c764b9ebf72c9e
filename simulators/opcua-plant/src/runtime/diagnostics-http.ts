/**
 * A loopback-only HTTP view of the plant for tests and runners: `GET /state` (the runtime snapshot:
 * PackML states, values, counters, alarms, faults) and `GET /healthz`. Read-only; faults are injected
 * through OPC UA.
 */
import { type Server, createServer } from 'node:http';
import type { PlantRuntime } from './plant-runtime.js';

export interface DiagnosticsServer {
  readonly url: string;
  close(): Promise<void>;
}

export interface DiagnosticsOptions {
  runtime: PlantRuntime;
  port: number;
  /** Extra health facts (OPC UA server running, sessions). */
  health: () => Record<string, unknown>;
}

export async function startDiagnostics(options: DiagnosticsOptions): Promise<DiagnosticsServer> {
  const server: Server = createServer((req, res) => {
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET') send(405, { code: 'METHOD_NOT_ALLOWED' });
    else if (req.url === '/state') send(200, options.runtime.snapshot());
    else if (req.url === '/healthz') send(200, { ok: true, ...options.health() });
    else send(404, { code: 'NOT_FOUND', paths: ['/state', '/healthz'] });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: options.port }, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
