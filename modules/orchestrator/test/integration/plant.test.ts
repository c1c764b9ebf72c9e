/**
 * The orchestrator with the real opcua-connector and the OPC UA plant simulator: device writes with
 * read-back, reads, a condition wait fed by a connector watch (input `tags`), and a device refusal
 * mapped to a workflow runtime code that `catch` handles.
 */
import deviceSdk from 'azure-iot-device';
import mqttTransport from 'azure-iot-device-mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { Lifecycle } from '@takt/edge-kit';
import { startConnectorModule } from '@takt/opcua-connector';
import { type EdgeHubHandle, parseDeployment, startEdgeHub } from '@takt/sim-edge-hub';
import { startPlant } from '@takt/sim-opcua-plant';
import { type TempDir, createTempDir, waitFor } from '@takt/test-support';
import { resolveOrchestratorConfig, startOrchestratorModule } from '../../src/index.js';
import { logger } from './harness.js';

const { ModuleClient } = deviceSdk;
const { Mqtt } = mqttTransport;
const NS = 'nsu=urn:takt:opcua-plant;s=';
const HOST = '127.47.4.1';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const setpoint = {
  id: 'setpoint',
  version: '1',
  parameters: { sp: { type: 'number' } },
  start: 'write',
  steps: {
    write: {
      type: 'action',
      action: 'opcua.write',
      args: { tag: 'ReactorSP', value: '{{ params.sp }}' },
      inDoubt: 'readBack',
      catch: [{ errors: ['DEVICE_WRITE_REJECTED'], next: 'refused' }],
      next: 'settled',
    },
    settled: { type: 'wait', condition: '{{ tags.ReactorSP = params.sp }}', tags: ['ReactorSP'], next: 'read' },
    read: { type: 'action', action: 'opcua.read', args: { tag: 'ReactorSP' }, resultVar: 'sp', next: 'done' },
    done: { type: 'succeed', output: { sp: '{{ vars.sp.value }}' } },
    refused: { type: 'fail', error: 'SETPOINT_REFUSED', message: '{{ error.code }}' },
  },
  errors: { SETPOINT_REFUSED: { summary: 'The PLC refused the setpoint.' } },
};

const charge = {
  id: 'charge',
  version: '1',
  parameters: { litres: { type: 'number', default: 50 } },
  resources: { tankA: { kind: 'unit', address: `${NS}TankA` } },
  start: 'dose',
  steps: {
    dose: {
      type: 'phase',
      unit: 'tankA',
      phase: 'Dose',
      parameters: { DoseSetpoint: '{{ params.litres }}' },
      next: 'dosed',
    },
    dosed: {
      type: 'action',
      action: 'opcua.read',
      args: { nodeId: `${NS}TankA.Dosed` },
      resultVar: 'dosed',
      next: 'done',
    },
    done: { type: 'succeed', output: { dosed: '{{ vars.dosed.value }}' } },
  },
};

describe('orchestrator with the real opcua-connector and the OPC UA plant', () => {
  it('writes with read-back, waits on a watched tag, reads, maps a device refusal, and runs a PackML phase', async () => {
    const dir: TempDir = await createTempDir('takt-orch-plant-');
    cleanups.push(() => dir.remove());
    const plant = await startPlant({ port: 0, speedFactor: 50, pkiDir: dir.join('plant-pki') });
    cleanups.push(() => plant.close());
    const manifest = {
      modulesContent: {
        $edgeAgent: { 'properties.desired': { schemaVersion: '1.1', runtime: {}, systemModules: {}, modules: {} } },
        $edgeHub: {
          'properties.desired': {
            schemaVersion: '1.2',
            routes: {
              tags: 'FROM /messages/modules/opcua-connector/outputs/tags INTO BrokeredEndpoint("/modules/orchestrator/inputs/tags")',
              up: 'FROM /messages/modules/orchestrator/outputs/* INTO $upstream',
            },
            storeAndForwardConfiguration: { timeToLiveSecs: 3600 },
          },
        },
        'opcua-connector': {
          'properties.desired': {
            settings: { autoAcceptUntrustedCertificates: true, batchIntervalMs: 50 },
            endpoints: { plant: { EndpointUrl: plant.endpointUrl, UseSecurity: false } },
          },
        },
        orchestrator: {
          'properties.desired': {
            settings: {
              defaultEndpointUrl: plant.endpointUrl,
              tags: [{ name: 'ReactorSP', nodeId: `${NS}Reactor.TemperatureSetpoint` }],
            },
            workflows: { setpoint, charge },
          },
        },
      },
    };
    const hub: EdgeHubHandle = await startEdgeHub({
      dataDir: dir.join('hub'),
      host: HOST,
      manifest: parseDeployment(manifest),
      logger,
    });
    cleanups.push(() => hub.close());
    const clientFor = (moduleId: string) => async () => {
      const client = ModuleClient.fromConnectionString(hub.connectionString(moduleId), Mqtt);
      await client.setOptions({ ca: hub.caCertPem });
      return client;
    };
    const connector = await startConnectorModule({
      logger: logger.child({ module: 'opcua-connector' }),
      dataDir: dir.join('connector'),
      secret: () => undefined,
      createClient: clientFor('opcua-connector'),
      reconnectInitialDelayMs: 50,
      reconnectMaxDelayMs: 300,
    });
    cleanups.push(() => connector.close());
    const lifecycle = new Lifecycle({ logger });
    cleanups.push(async () => {
      await lifecycle.close();
    });
    const { mkdir } = await import('node:fs/promises');
    await mkdir(dir.join('orchestrator'), { recursive: true });
    await startOrchestratorModule(lifecycle, {
      config: resolveOrchestratorConfig({
        TAKT_DATA_DIR: dir.join('orchestrator'),
        TAKT_HTTP_PORT: '0',
        EdgeHubConnectionString: hub.connectionString('orchestrator'),
      }),
      logger,
      metrics: false,
      createClient: clientFor('orchestrator'),
    });

    const invoke = async (methodName: string, payload: unknown) =>
      (await hub.control.invokeMethod('orchestrator', { methodName, payload })) as {
        status: number;
        payload: Record<string, unknown>;
      };
    const run = async (sp: number): Promise<Record<string, unknown>> => {
      const started = await invoke('startWorkflow', { workflowId: 'setpoint', parameters: { sp } });
      expect(started.status).toBe(200);
      const instanceId = String(started.payload['instanceId']);
      return waitFor(
        async () => {
          const view = (await invoke('getInstance', { instanceId })).payload;
          return view['status'] === 'succeeded' || view['status'] === 'failed' ? view : undefined;
        },
        { timeoutMs: 30_000, description: `setpoint ${sp}` },
      );
    };

    const ok = await run(95);
    expect(ok['status']).toBe('succeeded');
    expect(ok['output']).toEqual({ sp: 95 });

    // 500 °C is outside the node's InstrumentRange: BadOutOfRange → DEVICE_WRITE_REJECTED → catch.
    const refused = await run(500);
    expect(refused['status']).toBe('failed');
    expect(refused['error']).toMatchObject({ code: 'SETPOINT_REFUSED', message: 'DEVICE_WRITE_REJECTED' });

    // A PackML phase: parameters written, the unit started, its State watched until Complete.
    const dosed = await (async () => {
      const started = await invoke('startWorkflow', { workflowId: 'charge', parameters: { litres: 40 } });
      expect(started.status).toBe(200);
      const instanceId = String(started.payload['instanceId']);
      return waitFor(
        async () => {
          const view = (await invoke('getInstance', { instanceId })).payload;
          return view['status'] === 'succeeded' || view['status'] === 'failed' ? view : undefined;
        },
        { timeoutMs: 30_000, description: 'phase Dose' },
      );
    })();
    expect(dosed['status']).toBe('succeeded');
    expect((dosed['output'] as { dosed: number }).dosed).toBeCloseTo(40, 0);
    // The unit is now Complete, not Idle: a second phase is refused until it is reset.
    const again = await invoke('startWorkflow', { workflowId: 'charge' });
    const failed = await waitFor(
      async () => {
        const view = (await invoke('getInstance', { instanceId: String(again.payload['instanceId']) })).payload;
        return view['status'] === 'failed' ? view : undefined;
      },
      { timeoutMs: 15_000, description: 'phase refused' },
    );
    expect(failed['error']).toMatchObject({ code: 'DEVICE_METHOD_FAILED' });
  });
});
