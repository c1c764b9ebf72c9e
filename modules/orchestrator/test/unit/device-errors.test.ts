import { describe, expect, it } from 'vitest';
import { createLogger } from '@takt/edge-kit';
import { ConnectorClient, deviceErrorCode, toDeviceError } from '../../src/index.js';

const logger = createLogger({ level: 'fatal' });

describe('connector errors → workflow runtime codes', () => {
  it('maps connector codes by operation', () => {
    expect(deviceErrorCode('write', 'OPCUA_SESSION_LOST')).toBe('DEVICE_UNREACHABLE');
    expect(deviceErrorCode('read', 'OPCUA_TIMEOUT')).toBe('DEVICE_UNREACHABLE');
    // a connector that has just restarted and not read its twin yet: retried, not a configuration error
    expect(deviceErrorCode('call', 'OPCUA_NOT_CONFIGURED')).toBe('DEVICE_UNREACHABLE');
    expect(deviceErrorCode('call', 'OPCUA_ENDPOINT_UNKNOWN')).toBe('DEVICE_METHOD_FAILED');
    expect(deviceErrorCode('write', 'OPCUA_ACCESS_DENIED')).toBe('DEVICE_WRITE_REJECTED');
    expect(deviceErrorCode('read', 'OPCUA_NODE_NOT_FOUND')).toBe('DEVICE_BAD_STATUS');
    expect(deviceErrorCode('call', 'OPCUA_BAD_STATUS')).toBe('DEVICE_METHOD_FAILED');
    expect(deviceErrorCode('write', 'OPCUA_READBACK_MISMATCH')).toBe('DEVICE_READBACK_MISMATCH');
    expect(deviceErrorCode('write', 'OPCUA_CIRCUIT_OPEN')).toBe('CIRCUIT_OPEN');
  });

  it('keeps the connector code and marks retryable ones', () => {
    const error = toDeviceError(
      'write',
      { status: 503, payload: { code: 'OPCUA_SESSION_LOST', message: 'gone', retryable: true } },
      { nodeId: 'n' },
    );
    expect(error).toMatchObject({ code: 'DEVICE_UNREACHABLE', retryable: true });
    expect(error.details).toMatchObject({ connectorCode: 'OPCUA_SESSION_LOST', nodeId: 'n' });
    expect(toDeviceError('read', { status: 404, payload: null }, {}).code).toBe('DEVICE_UNREACHABLE');
    expect(toDeviceError('read', { thrown: new Error('socket hang up') }, {}).code).toBe('DEVICE_UNREACHABLE');
  });

  it('opens the endpoint circuit after repeated unreachable failures, not for bad nodes', async () => {
    let nowMs = 0;
    let calls = 0;
    let answer = {
      status: 503,
      payload: { code: 'OPCUA_CONNECT_FAILED', message: 'refused', retryable: true } as unknown,
    };
    const client = new ConnectorClient({
      logger,
      failureThreshold: 2,
      openMs: 1000,
      now: () => nowMs,
      invoke: () => {
        calls += 1;
        return Promise.resolve(answer);
      },
    });
    const read = () => client.read({ endpointUrl: 'opc.tcp://a', nodeId: 'x' }).catch((e: { code: string }) => e.code);
    expect(await read()).toBe('DEVICE_UNREACHABLE');
    expect(await read()).toBe('DEVICE_UNREACHABLE');
    expect(await read()).toBe('CIRCUIT_OPEN');
    expect(calls).toBe(2);
    // Another endpoint is not affected.
    expect(await client.read({ endpointUrl: 'opc.tcp://b', nodeId: 'x' }).catch((e: { code: string }) => e.code)).toBe(
      'DEVICE_UNREACHABLE',
    );
    nowMs = 1500;
    answer = { status: 400, payload: { code: 'OPCUA_NODE_NOT_FOUND', message: 'no', retryable: false } };
    expect(await read()).toBe('DEVICE_BAD_STATUS');
    expect(client.health()['opc.tcp://a']).toBe('closed');
  });
});
