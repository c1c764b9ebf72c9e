/**
 * Loads node-opcua-client without a DNS lookup of the machine's hostname.
 *
 * `node-opcua-hostname` resolves `os.hostname()` through DNS as soon as it is loaded. In a container
 * without a resolvable hostname (and under the test egress guard) that is a needless network lookup:
 * we load it once with `os.hostname()` answering `localhost`, wait for its cache to fill, then restore
 * `os.hostname`. All node-opcua values come through this module (`require`, not a static import, so
 * the patch is in place before the library evaluates); static imports are `import type` only. The
 * library is loaded lazily, so importing `@takt/opcua-connector` stays cheap.
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import { format } from 'node:util';
import type * as CertificateManagerModule from 'node-opcua-certificate-manager';
import type * as ClientModule from 'node-opcua-client';
import type * as DebugModule from 'node-opcua-debug';
import type * as HostnameModule from 'node-opcua-hostname';

const requireHere = createRequire(import.meta.url);

export type NodeOpcuaClient = typeof ClientModule;

export interface OpcuaLibraries {
  client: NodeOpcuaClient;
  certificates: typeof CertificateManagerModule;
}

/** Where node-opcua's own warnings and errors go. */
export type NodeOpcuaLogSink = (level: 'warn' | 'error', text: string) => void;

let sink: NodeOpcuaLogSink = () => undefined;

/** Routes node-opcua's warnings and errors (it prints them on stdout otherwise) into our logger. */
export function routeNodeOpcuaLogs(next: NodeOpcuaLogSink): void {
  sink = next;
}

function text(args: unknown[]): string {
  const [first, ...rest] = args;
  const isCaller = typeof first === 'object' && first !== null && 'filename' in first;
  return format(...(isCaller ? rest : args)).trim();
}

let loading: Promise<OpcuaLibraries> | undefined;

/** Loads node-opcua-client once (idempotent). */
export function loadOpcua(): Promise<OpcuaLibraries> {
  loading ??= (async () => {
    const debug = requireHere('node-opcua-debug') as typeof DebugModule;
    debug.setWarningLogger((...args: unknown[]) => sink('warn', text(args)));
    debug.setErrorLogger((...args: unknown[]) => sink('error', text(args)));
    debug.setDebugLogger(() => undefined);
    const original = os.hostname;
    os.hostname = () => 'localhost';
    try {
      const hostname = requireHere('node-opcua-hostname') as typeof HostnameModule;
      await hostname.extractFullyQualifiedDomainName();
    } finally {
      os.hostname = original;
    }
    return {
      client: requireHere('node-opcua-client') as NodeOpcuaClient,
      certificates: requireHere('node-opcua-certificate-manager') as typeof CertificateManagerModule,
    };
  })();
  return loading;
}
