import { type Server, createServer } from 'node:http';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { Component } from './lifecycle.js';
import type { Logger } from './logger.js';

export { Counter, Gauge, Histogram, Registry, Summary } from 'prom-client';

export interface MetricsServerOptions {
  /** Default 9600, as edgeHub and edgeAgent expose theirs for the IoT Edge metrics collector. */
  port?: number;
  /** Default `0.0.0.0` inside a container; use 127.0.0.1 for local runs. */
  host?: string;
  /** Default `/metrics`. */
  path?: string;
  /** Labels on every metric, e.g. `{ module: 'orchestrator' }`. */
  defaultLabels?: Record<string, string>;
  logger: Logger;
  /** Collect Node.js process metrics (CPU, memory, event-loop lag, GC). Default true. */
  processMetrics?: boolean;
}

/** A Prometheus registry plus the HTTP endpoint that serves it. */
export interface MetricsServer extends Component {
  readonly registry: Registry;
  start(): Promise<void>;
  /** The bound port (useful with port 0). */
  port(): number;
}

/** Creates the registry and, on start, serves it as Prometheus text. */
export function createMetricsServer(options: MetricsServerOptions): MetricsServer {
  const registry = new Registry();
  if (options.defaultLabels) registry.setDefaultLabels(options.defaultLabels);
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  const path = options.path ?? '/metrics';
  let server: Server | undefined;
  let boundPort = 0;
  return {
    name: 'metrics',
    registry,
    port: () => boundPort,
    async start() {
      server = createServer((req, res) => {
        if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== path) {
          res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
          return;
        }
        registry.metrics().then(
          (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
          (error: unknown) => {
            options.logger.error('metrics collection failed', { error });
            res.writeHead(500).end();
          },
        );
      });
      await new Promise<void>((resolve, reject) => {
        server?.once('error', reject);
        server?.listen(options.port ?? 9600, options.host ?? '0.0.0.0', () => resolve());
      });
      const address = server.address();
      boundPort = address && typeof address === 'object' ? address.port : 0;
      options.logger.info('metrics served', { url: `http://${options.host ?? '0.0.0.0'}:${boundPort}${path}` });
    },
    async close() {
      const s = server;
      server = undefined;
      if (!s) return;
      await new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeAllConnections();
      });
    },
  };
}
