import { describe, expect, it } from 'vitest';
import {
  chooseEndpoint,
  coerceValue,
  errorCatalog,
  errorForStatus,
  mappingForStatus,
  sameValue,
  translateError,
} from '../../src/index.js';
import { callMethod } from '../../src/opcua/commands.js';
import type { LiveHandle } from '../../src/opcua/endpoint-session.js';
import type { NodeOpcuaClient } from '../../src/opcua/node-opcua.js';

describe('write coercion', () => {
  it('coerces JSON to the node data type or says what is expected', () => {
    expect(coerceValue('85.5', 11, -1)).toEqual({ ok: true, value: 85.5 });
    expect(coerceValue('true', 1, -1)).toEqual({ ok: true, value: true });
    expect(coerceValue(2.5, 7, -1)).toMatchObject({ ok: false });
    expect(coerceValue(300, 3, -1)).toMatchObject({ ok: false, problem: expect.stringContaining('Byte') as unknown });
    expect(coerceValue('9007199254740993', 8, -1)).toEqual({ ok: true, value: [0x200000, 1] });
    expect(coerceValue([1, 2], 6, 1)).toEqual({ ok: true, value: [1, 2] });
    expect(coerceValue([1, 'x'], 6, 1)).toMatchObject({
      ok: false,
      problem: expect.stringContaining('[1]') as unknown,
    });
    expect(coerceValue(5, 6, 1)).toMatchObject({ ok: false });
    expect(coerceValue('hot', 11, -1)).toMatchObject({ ok: false });
    expect(coerceValue(null, 11, -1)).toMatchObject({ ok: false });
  });

  it('compares read-back values with float tolerance', () => {
    expect(sameValue(0.1, Math.fround(0.1), 10)).toBe(true);
    expect(sameValue(0.1, 0.2, 11)).toBe(false);
    expect(sameValue([1, 2], [1, 2], 6)).toBe(true);
  });
});

describe('status code mapping', () => {
  it('maps statuses to documented codes with retryable set', () => {
    expect(mappingForStatus('BadNodeIdUnknown').code).toBe('OPCUA_NODE_NOT_FOUND');
    expect(mappingForStatus('BadTypeMismatch').code).toBe('OPCUA_TYPE_MISMATCH');
    expect(errorForStatus('BadSessionClosed', 'read').retryable).toBe(true);
    expect(errorForStatus('BadTimeout', 'read')).toMatchObject({ code: 'OPCUA_TIMEOUT', retryable: true });
    expect(errorForStatus('BadServerTooBusy', 'read')).toMatchObject({ code: 'OPCUA_BAD_STATUS', retryable: true });
    expect(errorForStatus('BadOutOfRange', 'write')).toMatchObject({
      code: 'OPCUA_BAD_STATUS',
      retryable: false,
      details: { statusCode: 'BadOutOfRange' },
    });
    expect(
      translateError(
        new Error('server Certificate verification failed with err BadCertificateUntrusted (0x801a0000)'),
        'connect',
      ),
    ).toMatchObject({
      code: 'OPCUA_SECURITY_REJECTED',
      retryable: false,
    });
    expect(translateError(new Error('connect ECONNREFUSED 127.0.0.1:4840'), 'connect')).toMatchObject({
      code: 'OPCUA_CONNECT_FAILED',
      retryable: true,
    });
    for (const code of Object.keys(errorCatalog)) expect(code).toMatch(/^OPCUA_/);
  });

  it('picks SignAndEncrypt when offered, else the best there is', () => {
    const offered = [
      { securityMode: 'None', securityPolicy: 'None' },
      { securityMode: 'Sign', securityPolicy: 'Basic256Sha256' },
      { securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256' },
      { securityMode: 'SignAndEncrypt', securityPolicy: 'Aes256_Sha256_RsaPss' },
    ];
    expect(chooseEndpoint(offered, 'Best', undefined)).toEqual({
      securityMode: 'SignAndEncrypt',
      securityPolicy: 'Aes256_Sha256_RsaPss',
    });
    expect(chooseEndpoint(offered, 'SignAndEncrypt', 'Basic256Sha256')).toEqual({
      securityMode: 'SignAndEncrypt',
      securityPolicy: 'Basic256Sha256',
    });
    expect(chooseEndpoint(offered.slice(0, 1), 'Best', undefined)).toEqual({
      securityMode: 'None',
      securityPolicy: 'None',
    });
    expect(chooseEndpoint(offered.slice(0, 1), 'SignAndEncrypt', undefined)).toBeUndefined();
  });
});

describe('method calls when the session goes away', () => {
  it('a failed browse for the argument definitions is the session, retryable — not an unknown method', async () => {
    // a stand-in session at the node-opcua boundary: the plant dropped the session mid-call
    const live = {
      namespaces: [],
      resolveNodeId: (id: string) => id,
      session: {
        getArgumentDefinition: () => Promise.reject(new Error('BadSessionClosed (0x80260000)')),
      },
    } as unknown as LiveHandle;
    const lib = {} as unknown as NodeOpcuaClient;
    const failure = await callMethod(lib, live, 'ns=2;s=Filler', 'ns=2;s=Filler.Reset', []).catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: 'OPCUA_SESSION_LOST', retryable: true });
    live.session.getArgumentDefinition = () => Promise.reject(new Error('premature disconnection'));
    expect(
      await callMethod(lib, live, 'ns=2;s=Filler', 'ns=2;s=Filler.Reset', []).catch((e: unknown) => e),
    ).toMatchObject({ retryable: true });
  });
});
