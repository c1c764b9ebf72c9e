/**
 * A connector that has just started answers methods before its twin is read: a command for an endpoint
 * it does not know yet is then retryable (`OPCUA_NOT_CONFIGURED`), and only after the twin is applied
 * an unknown endpoint is a configuration error (`OPCUA_ENDPOINT_UNKNOWN`). Real class, real node-opcua
 * libraries and certificate manager, a real SQLite file.
 */
import { createLogger, openDatabase, Outbox } from '@takt/edge-kit';
import { createTempDir } from '@takt/test-support';
import { describe, expect, it, onTestFinished } from 'vitest';
import { DEFAULT_SETTINGS } from '../../src/config/settings.js';
import { OpcuaConnector } from '../../src/connector.js';
import { loadOpcua } from '../../src/opcua/node-opcua.js';

describe('a connector before its twin is applied', () => {
  it('answers OPCUA_NOT_CONFIGURED (retryable) for an unknown endpoint, OPCUA_ENDPOINT_UNKNOWN after', async () => {
    const dir = await createTempDir('takt-connector-fresh-');
    const libs = await loadOpcua();
    const certificateManager = new libs.certificates.OPCUACertificateManager({ rootFolder: dir.join('pki') });
    await certificateManager.initialize();
    const db = openDatabase(dir.join('opcua-connector.db'));
    const connector = new OpcuaConnector({
      logger: createLogger({ level: 'fatal' }),
      libs,
      certificateManager,
      db,
      outbox: new Outbox(db),
      settings: DEFAULT_SETTINGS,
      applicationName: 'takt-test',
      publisherId: 'takt-test',
      publishedNodesFile: undefined,
      secret: () => undefined,
    });
    onTestFinished(async () => {
      await connector.close();
      await certificateManager.dispose();
      db.close();
      await dir.remove();
    });
    const read = () => connector.read('opc.tcp://127.0.0.1:4840', ['i=85']);

    await expect(read()).rejects.toMatchObject({ code: 'OPCUA_NOT_CONFIGURED', retryable: true });
    connector.markTwinApplied();
    await expect(read()).rejects.toMatchObject({ code: 'OPCUA_ENDPOINT_UNKNOWN', retryable: false });
  });
});
