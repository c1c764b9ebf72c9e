import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Server, Socket } from 'node:net';
import { SimAzureError } from './errors.js';
import { sendError } from './http-util.js';

/** A listening emulator that can be stopped (port freed, connections cut) and started again on the same port. */
export interface Pausable {
  readonly host: string;
  /** The bound port (stays the same across {@link Pausable.pause}/{@link Pausable.resume}). */
  readonly port: number;
  /** Closes the listener and every open connection; state (twins, queues …) is kept. */
  pause(): Promise<void>;
  /** Listens again on the same address and port. */
  resume(): Promise<void>;
  close(): Promise<void>;
}

/** Listens `server` on host:port, tracking sockets so that pause() can cut them. */
export class Listener implements Pausable {
  private readonly sockets = new Set<Socket>();
  private boundPort = 0;
  private listening = false;

  constructor(
    private readonly server: Server,
    readonly host: string,
    private readonly wantedPort: number,
    private readonly what: string,
  ) {
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    await this.listen(this.wantedPort);
  }

  async pause(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  async resume(): Promise<void> {
    if (this.listening) return;
    await this.listen(this.boundPort);
  }

  async close(): Promise<void> {
    await this.pause();
  }

  private async listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const onError = (cause: Error): void =>
        reject(
          new SimAzureError('AZURE_SIM_START_FAILED', `${this.what} could not listen on ${this.host}:${port}`, {
            cause,
            details: { host: this.host, port },
          }),
        );
      this.server.once('error', onError);
      this.server.listen(port, this.host, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    const address = this.server.address();
    this.boundPort = typeof address === 'object' && address ? address.port : port;
    this.listening = true;
  }
}

export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> | void;

/** An HTTP(S) server running `handler`, errors mapped to Azure error bodies. */
export function httpListener(
  what: string,
  host: string,
  port: number,
  tls: { cert: string; key: string } | undefined,
  handler: Handler,
): Listener {
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://emulator');
    Promise.resolve()
      .then(() => handler(req, res, url))
      .catch((error: unknown) => sendError(res, error));
  };
  const server = tls ? createHttpsServer({ cert: tls.cert, key: tls.key }, onRequest) : createHttpServer(onRequest);
  server.keepAliveTimeout = 5_000;
  return new Listener(server, host, port, what);
}
