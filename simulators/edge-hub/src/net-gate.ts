import { type Server, type Socket, createServer } from 'node:net';

/**
 * The TCP front door of one listener. It owns every accepted socket so the control API can drop them
 * all, and can freeze: new connections are accepted at TCP level and then left unanswered (no TLS
 * handshake) until the gate thaws. Accepted sockets get TCP_NODELAY and are handed to `onSocket`
 * (a TLS server's `connection` event).
 */
export class NetGate {
  readonly server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #held: Socket[] = [];
  #frozen = false;

  constructor(readonly onSocket: (socket: Socket) => void) {
    this.server = createServer({ noDelay: true, pauseOnConnect: false }, (socket) => this.#accept(socket));
  }

  #accept(socket: Socket): void {
    socket.setNoDelay(true);
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    socket.on('error', () => undefined);
    if (this.#frozen) {
      socket.pause();
      this.#held.push(socket);
      return;
    }
    this.onSocket(socket);
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      this.server.once('error', onError);
      this.server.listen({ host, port, exclusive: true }, () => {
        this.server.off('error', onError);
        const address = this.server.address();
        resolve(typeof address === 'object' && address !== null ? address.port : port);
      });
    });
  }

  get connectionCount(): number {
    return this.#sockets.size;
  }

  /** Destroys every open connection; returns how many. */
  dropAll(): number {
    const count = this.#sockets.size;
    for (const socket of this.#sockets) socket.destroy();
    this.#held.length = 0;
    return count;
  }

  freeze(): void {
    this.#frozen = true;
  }

  thaw(): void {
    this.#frozen = false;
    const held = this.#held.splice(0, this.#held.length);
    for (const socket of held) {
      if (socket.destroyed) continue;
      // no resume(): bytes read while held stay buffered and the TLS layer takes them over
      this.onSocket(socket);
    }
  }

  close(): Promise<void> {
    this.dropAll();
    return new Promise((resolve) => {
      if (!this.server.listening) {
        resolve();
        return;
      }
      this.server.close(() => resolve());
    });
  }
}
