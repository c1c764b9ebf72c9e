import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import forge from 'node-forge';

/** The emulator's TLS material, PEM encoded. */
export interface CertificateSet {
  caCertPem: string;
  serverCertPem: string;
  serverKeyPem: string;
  /** Path of the CA certificate file (for `EdgeModuleCACertificateFile`). */
  caCertPath: string;
}

const CA_CERT = 'ca.cert.pem';
const CA_KEY = 'ca.key.pem';
const SERVER_CERT = 'server.cert.pem';
const SERVER_KEY = 'server.key.pem';
const SERVER_NAMES = 'server.names.json';

function serialNumber(): string {
  // positive: leading byte below 0x80
  return `01${forge.util.bytesToHex(forge.random.getBytesSync(15))}`;
}

function makeCa(): { cert: forge.pki.Certificate; key: forge.pki.rsa.PrivateKey } {
  const keys = forge.pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = new Date(Date.now() - 24 * 3600_000);
  cert.validity.notAfter = new Date(Date.now() + 10 * 365 * 24 * 3600_000);
  const attrs = [{ name: 'commonName', value: 'Takt edgeHub emulator local CA' }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { cert, key: keys.privateKey };
}

function makeServer(
  ca: { cert: forge.pki.Certificate; key: forge.pki.rsa.PrivateKey },
  names: readonly string[],
): { certPem: string; keyPem: string } {
  const keys = forge.pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = new Date(Date.now() - 24 * 3600_000);
  cert.validity.notAfter = new Date(Date.now() + 2 * 365 * 24 * 3600_000);
  cert.setSubject([{ name: 'commonName', value: names[0] ?? 'localhost' }]);
  cert.setIssuer(ca.cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: names.map((name) => (isIP(name) ? { type: 7, ip: name } : { type: 2, value: name })),
    },
  ]);
  cert.sign(ca.key, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(keys.privateKey) };
}

/**
 * Loads the CA and server certificate from `dir`, creating them on first run. The server certificate
 * is re-issued (by the same CA) when it does not cover every name in `names` (IP SANs for addresses,
 * DNS SANs otherwise), so modules that trust the CA keep working when the bind address changes.
 */
export function ensureCertificates(dir: string, names: readonly string[]): CertificateSet {
  mkdirSync(dir, { recursive: true });
  const caCertPath = join(dir, CA_CERT);
  let ca: { cert: forge.pki.Certificate; key: forge.pki.rsa.PrivateKey };
  if (existsSync(caCertPath) && existsSync(join(dir, CA_KEY))) {
    ca = {
      cert: forge.pki.certificateFromPem(readFileSync(caCertPath, 'utf8')),
      key: forge.pki.privateKeyFromPem(readFileSync(join(dir, CA_KEY), 'utf8')),
    };
  } else {
    ca = makeCa();
    writeFileSync(join(dir, CA_KEY), forge.pki.privateKeyToPem(ca.key), { mode: 0o600 });
    writeFileSync(caCertPath, forge.pki.certificateToPem(ca.cert));
  }
  const wanted = [...new Set(names)];
  let covered: string[] = [];
  try {
    covered = JSON.parse(readFileSync(join(dir, SERVER_NAMES), 'utf8')) as string[];
  } catch {
    covered = [];
  }
  const serverCertPath = join(dir, SERVER_CERT);
  const serverKeyPath = join(dir, SERVER_KEY);
  if (!existsSync(serverCertPath) || !existsSync(serverKeyPath) || wanted.some((name) => !covered.includes(name))) {
    const all = [...new Set([...wanted, ...covered])];
    const server = makeServer(ca, all);
    writeFileSync(serverKeyPath, server.keyPem, { mode: 0o600 });
    writeFileSync(serverCertPath, server.certPem);
    writeFileSync(join(dir, SERVER_NAMES), JSON.stringify(all));
  }
  return {
    caCertPem: readFileSync(caCertPath, 'utf8'),
    serverCertPem: readFileSync(serverCertPath, 'utf8'),
    serverKeyPem: readFileSync(serverKeyPath, 'utf8'),
    caCertPath,
  };
}
