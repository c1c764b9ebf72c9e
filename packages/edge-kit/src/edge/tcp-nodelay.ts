import net from 'node:net';

let installed = false;

/**
 * Turns on TCP_NODELAY for every outgoing TCP (and so TLS) client socket of this process. mqtt.js
 * never sets it, so a publish right after acknowledging an inbound QoS 1 message waits ~40 ms for
 * Nagle and delayed ACK (notes/edgehub-protocol.md §5, §8). Node applies a `setNoDelay` made before
 * the connection exists once it is connected. Idempotent; loopback or not, no other effect.
 */
export function enableTcpNoDelay(): void {
  if (installed) return;
  installed = true;
  const original: unknown = Reflect.get(net.Socket.prototype, 'connect');
  if (typeof original !== 'function') return;
  Reflect.set(net.Socket.prototype, 'connect', function connect(this: net.Socket, ...args: unknown[]): net.Socket {
    this.setNoDelay(true);
    return Reflect.apply(original, this, args) as net.Socket;
  });
}
