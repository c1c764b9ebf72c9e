import { ensureCertificates } from '@takt/sim-edge-hub';

/** TLS material for the HTTPS emulators: a local CA and a server certificate for the given names. */
export interface TlsMaterial {
  caCertPem: string;
  caCertPath: string;
  cert: string;
  key: string;
}

/**
 * Creates (or reuses) a local CA and a server certificate under `dir` covering `localhost`,
 * `127.0.0.1` and `host`. Clients trust it through `NODE_EXTRA_CA_CERTS=<caCertPath>` (read by Node
 * only at process start) or an explicit `ca` option.
 */
export function tlsMaterial(dir: string, host: string): TlsMaterial {
  const set = ensureCertificates(dir, ['localhost', '127.0.0.1', host]);
  return { caCertPem: set.caCertPem, caCertPath: set.caCertPath, cert: set.serverCertPem, key: set.serverKeyPem };
}
