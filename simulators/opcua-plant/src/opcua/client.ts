/**
 * A small node-opcua client for the plant: used by the fault CLI and handy for tests. Loopback by
 * default, its own PKI folder (never $HOME), one session.
 */
import type { ClientSession, OPCUAClient } from 'node-opcua-client';
import { PlantError, type PlantErrorCode } from '../errors.js';
import { PLANT_NAMESPACE_URI } from './address-space.js';
import { type NodeOpcuaClient, loadClientLibrary, loadServerLibraries } from './node-opcua.js';

export interface PlantClientOptions {
  endpointUrl: string;
  /** Client certificate folder. */
  pkiDir: string;
  /** Default None. */
  securityMode?: 'None' | 'Sign' | 'SignAndEncrypt';
  username?: string;
  password?: string;
  /** Default `takt-plant-client` (one PKI folder per application URI, see the notes). */
  applicationName?: string;
  /** Connection attempts before giving up. Default 3. */
  maxRetry?: number;
}

export interface PlantClient {
  readonly lib: NodeOpcuaClient;
  readonly client: OPCUAClient;
  readonly session: ClientSession;
  /** `ns=<plant namespace index>;s=<path>` (the index is read from the server's namespace array). */
  nodeId(path: string): string;
  /**
   * Calls a method `Object.Method` (e.g. `Reactor.Start`, `Simulation.InjectFault`). A bad status is
   * thrown as a `PlantError` whose code says why (see {@link codeForStatus}); `details.statusCode` names it.
   */
  call(methodPath: string, args?: { dataType: number; value: unknown }[]): Promise<unknown[]>;
  /** Writes a Boolean or Double by path; throws `PLANT_WRITE_REJECTED` (or `PLANT_CALL_FAILED`) on a bad status. */
  write(path: string, value: boolean | number): Promise<void>;
  /** Reads a value by path; throws `PLANT_CALL_FAILED` on a bad status. */
  read(path: string): Promise<unknown>;
  close(): Promise<void>;
}

/** Translates the plant's OPC UA status codes back into plant error codes. */
export function codeForStatus(statusName: string): PlantErrorCode {
  switch (statusName) {
    case 'BadInvalidState':
      return 'PLANT_COMMAND_INVALID';
    case 'BadDeviceFailure':
      return 'PLANT_COMMAND_REFUSED';
    case 'BadRequestNotAllowed':
      return 'PLANT_INTERLOCK_ACTIVE';
    case 'BadOutOfRange':
    case 'BadNotWritable':
    case 'BadTypeMismatch':
      return 'PLANT_WRITE_REJECTED';
    case 'BadInvalidArgument':
      return 'PLANT_FAULT_INVALID';
    case 'BadNotFound':
      return 'PLANT_FAULT_UNKNOWN';
    default:
      return 'PLANT_CALL_FAILED';
  }
}

/** The object a method node belongs to: `Reactor.Start` → `Reactor`. */
function objectOf(methodPath: string): string {
  const dot = methodPath.lastIndexOf('.');
  return dot > 0 ? methodPath.slice(0, dot) : methodPath;
}

export async function connectPlantClient(options: PlantClientOptions): Promise<PlantClient> {
  const lib = await loadClientLibrary();
  const { certificates } = await loadServerLibraries();
  const applicationName = options.applicationName ?? 'takt-plant-client';
  const client = lib.OPCUAClient.create({
    applicationName,
    applicationUri: `urn:takt:${applicationName}`,
    clientCertificateManager: new certificates.OPCUACertificateManager({
      rootFolder: options.pkiDir,
      automaticallyAcceptUnknownCertificate: true,
    }),
    securityMode: lib.MessageSecurityMode[options.securityMode ?? 'None'],
    securityPolicy:
      options.securityMode === undefined || options.securityMode === 'None'
        ? lib.SecurityPolicy.None
        : lib.SecurityPolicy.Basic256Sha256,
    endpointMustExist: false,
    keepSessionAlive: true,
    connectionStrategy: { maxRetry: options.maxRetry ?? 3, initialDelay: 100, maxDelay: 1000 },
  });
  try {
    await client.connect(options.endpointUrl);
  } catch (error) {
    await client.disconnect().catch(() => undefined);
    throw new PlantError('PLANT_CALL_FAILED', `cannot connect to ${options.endpointUrl}`, { cause: error });
  }
  let session: ClientSession;
  try {
    session =
      options.username === undefined
        ? await client.createSession()
        : await client.createSession({
            type: lib.UserTokenType.UserName,
            userName: options.username,
            password: options.password ?? '',
          });
  } catch (error) {
    await client.disconnect().catch(() => undefined);
    throw new PlantError('PLANT_CALL_FAILED', `cannot open a session on ${options.endpointUrl}`, { cause: error });
  }
  // node-opcua's request encoders take `ns=` NodeIds only: resolve the plant namespace index once
  let namespaceIndex: number;
  try {
    const namespaces = await session.readNamespaceArray();
    namespaceIndex = namespaces.indexOf(PLANT_NAMESPACE_URI);
  } catch (error) {
    await client.disconnect().catch(() => undefined);
    throw new PlantError('PLANT_CALL_FAILED', `cannot read the namespace array of ${options.endpointUrl}`, {
      cause: error,
    });
  }
  if (namespaceIndex < 0) {
    await client.disconnect().catch(() => undefined);
    throw new PlantError('PLANT_CALL_FAILED', `${options.endpointUrl} has no namespace ${PLANT_NAMESPACE_URI}`);
  }
  const nodeId = (path: string): string => `ns=${namespaceIndex};s=${path}`;
  const bad = (what: string, statusCode: { name: string }): PlantError =>
    new PlantError(codeForStatus(statusCode.name), `${what} returned ${statusCode.name}`, {
      details: { statusCode: statusCode.name },
    });
  return {
    lib,
    client,
    session,
    nodeId,
    async call(methodPath, args = []) {
      const result = await session.call({
        objectId: nodeId(objectOf(methodPath)),
        methodId: nodeId(methodPath),
        inputArguments: args,
      });
      if (!result.statusCode.isGood()) throw bad(methodPath, result.statusCode);
      return (result.outputArguments ?? []).map((v) => v.value as unknown);
    },
    async write(path, value) {
      const dataType = typeof value === 'boolean' ? lib.DataType.Boolean : lib.DataType.Double;
      const statusCode = await session.write({
        nodeId: nodeId(path),
        attributeId: lib.AttributeIds.Value,
        value: { value: { dataType, value } },
      });
      if (!statusCode.isGood()) throw bad(`write ${path}`, statusCode);
    },
    async read(path) {
      const dataValue = await session.read({ nodeId: nodeId(path), attributeId: lib.AttributeIds.Value });
      if (!dataValue.statusCode.isGood()) throw bad(`read ${path}`, dataValue.statusCode);
      return dataValue.value.value as unknown;
    },
    async close() {
      await session.close().catch(() => undefined);
      await client.disconnect();
    },
  };
}
