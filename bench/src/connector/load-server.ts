/**
 * A node-opcua server that offers a known change rate for `npm run bench -- connector`: N Double
 * variables (`nsu=urn:takt:bench-load;s=T<i>`), each set with `setValueFromSource` every
 * `intervalMs` (event-driven; clients sample with interval 0). Run as a child process so its CPU is
 * its own. Prints `load-server ready <port>` and then `updates <total>` every second on stdout.
 *
 *   node --conditions=takt-source --import tsx bench/src/connector/load-server.ts <port> <tags> <intervalMs> <pkiDir>
 */
import { createRequire } from 'node:module';
import { primeHostname } from '@takt/sim-opcua-plant';
import type * as CertificateManagerModule from 'node-opcua-certificate-manager';
import type * as SecureChannelModule from 'node-opcua-secure-channel';
import type * as ServerModule from 'node-opcua-server';
import type * as VariantModule from 'node-opcua-variant';

const requireHere = createRequire(import.meta.url);
const [portArg, tagsArg, intervalArg, pkiDir] = process.argv.slice(2);
const port = Number(portArg);
const tags = Math.min(Math.max(Number(tagsArg ?? 5000), 1), 50_000);
const intervalMs = Math.max(Number(intervalArg ?? 100), 10);

await primeHostname();
const lib = requireHere('node-opcua-server') as typeof ServerModule;
const certificates = requireHere('node-opcua-certificate-manager') as typeof CertificateManagerModule;
const { MessageSecurityMode, SecurityPolicy } = requireHere('node-opcua-secure-channel') as typeof SecureChannelModule;
const { DataType } = requireHere('node-opcua-variant') as typeof VariantModule;
const server = new lib.OPCUAServer({
  port,
  host: '127.0.0.1',
  hostname: '127.0.0.1',
  serverCertificateManager: new certificates.OPCUACertificateManager({
    rootFolder: `${pkiDir ?? '.takt/bench-load-pki'}/server`,
    automaticallyAcceptUnknownCertificate: true,
  }),
  userCertificateManager: new certificates.OPCUACertificateManager({
    rootFolder: `${pkiDir ?? '.takt/bench-load-pki'}/user`,
    automaticallyAcceptUnknownCertificate: true,
  }),
  serverInfo: { applicationUri: 'urn:takt:bench-load', applicationName: { text: 'bench load', locale: 'en' } },
  securityModes: [MessageSecurityMode.None],
  securityPolicies: [SecurityPolicy.None],
  allowAnonymous: true,
  serverCapabilities: { minSupportedSampleRate: 0, maxSessions: 10 },
});
await server.initialize();
const namespace = server.engine.addressSpace?.getOwnNamespace();
if (!namespace) throw new Error('no address space');
const folder = namespace.addFolder('ObjectsFolder', { browseName: 'Load' });
const variables = Array.from({ length: tags }, (_, i) =>
  namespace.addVariable({
    componentOf: folder,
    browseName: `T${i}`,
    nodeId: `s=T${i}`,
    dataType: 'Double',
    minimumSamplingInterval: 0,
    value: { dataType: DataType.Double, value: 0 },
  }),
);
await server.start();
process.stdout.write(`load-server ready ${port}\n`);
let tick = 0;
let updates = 0;
const timer = setInterval(() => {
  tick += 1;
  for (let i = 0; i < variables.length; i += 1) {
    variables[i]?.setValueFromSource({ dataType: DataType.Double, value: tick + i / 100_000 });
  }
  updates += variables.length;
}, intervalMs);
const report = setInterval(() => process.stdout.write(`updates ${updates}\n`), 1_000);
const stop = () => {
  clearInterval(timer);
  clearInterval(report);
  void server.shutdown(0).then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
