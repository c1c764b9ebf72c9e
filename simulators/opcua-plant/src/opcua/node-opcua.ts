/**
 * Loads node-opcua without a DNS lookup of the machine's hostname.
 *
 * `node-opcua-hostname` resolves `os.hostname()` through DNS as soon as it is *loaded* (it calls
 * `prepareFQDN()` at module level) and again on every server start. Off loopback that is a network
 * lookup the test egress guard refuses — and a needless one for a simulator that advertises an
 * explicit host. We load it once with `os.hostname()` answering `localhost`, wait for its cache to
 * fill (`localhost` resolves from /etc/hosts), then restore `os.hostname`. Every later call hits the
 * cache. All node-opcua values therefore come through this module (`require`, not a static import,
 * so the patch is in place before the library evaluates); static imports from node-opcua are
 * `import type` only.
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import { format } from 'node:util';
import type * as CertificateManagerModule from 'node-opcua-certificate-manager';
import type * as ClientModule from 'node-opcua-client';
import type * as DataAccessModule from 'node-opcua-data-access';
import type * as DebugModule from 'node-opcua-debug';
import type * as HostnameModule from 'node-opcua-hostname';
import type * as NodeIdModule from 'node-opcua-nodeid';
import type * as SecureChannelModule from 'node-opcua-secure-channel';
import type * as ServerModule from 'node-opcua-server';
import type * as StatusCodeModule from 'node-opcua-status-code';
import type * as VariantModule from 'node-opcua-variant';

const requireHere = createRequire(import.meta.url);

export type NodeOpcuaServer = typeof ServerModule;
export type NodeOpcuaClient = typeof ClientModule;

export interface ServerLibraries {
  server: NodeOpcuaServer;
  certificates: typeof CertificateManagerModule;
  secureChannel: typeof SecureChannelModule;
  dataAccess: typeof DataAccessModule;
  variant: typeof VariantModule;
  statusCodes: typeof StatusCodeModule;
  nodeId: typeof NodeIdModule;
}

let primed: Promise<void> | undefined;

/** Where node-opcua's own warnings and errors go (default: stderr, so stdout stays machine-readable). */
export type NodeOpcuaLogSink = (level: 'warn' | 'error', text: string) => void;

let sink: NodeOpcuaLogSink = (level, text) => {
  process.stderr.write(`[node-opcua ${level}] ${text}\n`);
};

/** Routes node-opcua's warnings and errors (it prints them on stdout otherwise), e.g. into the edge-kit logger. */
export function routeNodeOpcuaLogs(next: NodeOpcuaLogSink): void {
  sink = next;
}

/** node-opcua passes `{ filename, callerline }` first: keep only the message. */
function text(args: unknown[]): string {
  const [first, ...rest] = args;
  const isCaller = typeof first === 'object' && first !== null && 'filename' in first;
  return format(...(isCaller ? rest : args)).trim();
}

function installLogRouting(): void {
  const debug = requireHere('node-opcua-debug') as typeof DebugModule;
  debug.setWarningLogger((...args: unknown[]) => sink('warn', text(args)));
  debug.setErrorLogger((...args: unknown[]) => sink('error', text(args)));
  debug.setDebugLogger(() => undefined);
}

/** Fills node-opcua's fully-qualified-domain-name cache with `localhost`, without DNS. Idempotent. */
export function primeHostname(): Promise<void> {
  primed ??= (async () => {
    installLogRouting();
    const original = os.hostname;
    os.hostname = () => 'localhost';
    try {
      const hostname = requireHere('node-opcua-hostname') as typeof HostnameModule;
      await hostname.extractFullyQualifiedDomainName();
    } finally {
      os.hostname = original;
    }
  })();
  return primed;
}

/** The server-side node-opcua packages. */
export async function loadServerLibraries(): Promise<ServerLibraries> {
  await primeHostname();
  return {
    server: requireHere('node-opcua-server') as NodeOpcuaServer,
    certificates: requireHere('node-opcua-certificate-manager') as ServerLibraries['certificates'],
    secureChannel: requireHere('node-opcua-secure-channel') as ServerLibraries['secureChannel'],
    dataAccess: requireHere('node-opcua-data-access') as ServerLibraries['dataAccess'],
    variant: requireHere('node-opcua-variant') as ServerLibraries['variant'],
    statusCodes: requireHere('node-opcua-status-code') as ServerLibraries['statusCodes'],
    nodeId: requireHere('node-opcua-nodeid') as ServerLibraries['nodeId'],
  };
}

/** `node-opcua-client`, loaded the same way (for the fault CLI and for tests). */
export async function loadClientLibrary(): Promise<NodeOpcuaClient> {
  await primeHostname();
  return requireHere('node-opcua-client') as NodeOpcuaClient;
}
