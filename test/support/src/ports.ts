import { createServer } from 'node:net';

/**
 * Asks the kernel for a free TCP port on `host` (port 0), closes the probe and returns the number.
 * Prefer handing port 0 to the server under test; use this only where a port must be known before
 * the server starts (a child process's command line, a certificate).
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error(`could not read a free port on ${host}`));
      });
    });
  });
}
