import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TempDir, createTempDir } from '@takt/test-support';
import { connectPlantClient } from '../../src/opcua/client.js';
import { type RunningPlant, startPlant } from '../../src/plant.js';
import { TEST_LAYOUT } from './support.js';

let dir: TempDir;
let plant: RunningPlant;

beforeAll(async () => {
  dir = await createTempDir('takt-plant-security-');
  plant = await startPlant({
    layout: TEST_LAYOUT,
    port: 0,
    pkiDir: dir.join('pki'),
    securityModes: ['SignAndEncrypt'],
    allowAnonymous: false,
    users: [{ username: 'operator', password: 'correct horse' }],
  });
});

afterAll(async () => {
  await plant?.close();
  await dir?.remove();
});

const connect = (options: { username?: string; password?: string; securityMode?: 'None' | 'SignAndEncrypt' }) =>
  connectPlantClient({
    endpointUrl: plant.endpointUrl,
    pkiDir: dir.join('client-pki'),
    securityMode: options.securityMode ?? 'SignAndEncrypt',
    maxRetry: 0,
    ...options,
  });

const causeText = (error: unknown): string => {
  const parts: string[] = [];
  let current: unknown = error;
  for (let i = 0; i < 5 && current instanceof Error; i++) {
    parts.push(current.message);
    current = current.cause;
  }
  return parts.join(' | ');
};

describe('security', () => {
  it('serves SignAndEncrypt / Basic256Sha256 to a user with the right password', async () => {
    const client = await connect({ username: 'operator', password: 'correct horse' });
    try {
      expect(await client.read('Plant.Layout')).toBe('test-plant');
      const endpoints = await client.client.getEndpoints();
      expect(new Set(endpoints.map((e) => e.securityPolicyUri))).toEqual(
        new Set(['http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256']),
      );
      expect(new Set(endpoints.map((e) => client.lib.MessageSecurityMode[e.securityMode]))).toEqual(
        new Set(['SignAndEncrypt']),
      );
    } finally {
      await client.close();
    }
  });

  it('refuses a wrong password', async () => {
    const error: unknown = await connect({ username: 'operator', password: 'wrong' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'PLANT_CALL_FAILED' });
    expect(causeText(error)).toMatch(/BadUserAccessDenied|BadIdentityTokenRejected/);
  });

  it('refuses anonymous sessions', async () => {
    const error: unknown = await connect({}).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'PLANT_CALL_FAILED' });
  });
});
