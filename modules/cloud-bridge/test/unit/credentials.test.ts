import { describe, expect, it } from 'vitest';
import { credentialFromEnv } from '../../src/index.js';

describe('credentialFromEnv', () => {
  it('picks client secret, certificate, workload or managed identity from the environment', async () => {
    const base = { AZURE_TENANT_ID: 't', AZURE_CLIENT_ID: 'c' };
    expect((await credentialFromEnv({ ...base, AZURE_CLIENT_SECRET: 's' })).constructor.name).toBe(
      'ClientSecretCredential',
    );
    expect((await credentialFromEnv({ ...base, AZURE_CLIENT_CERTIFICATE_PATH: '/certs/c.pem' })).constructor.name).toBe(
      'ClientCertificateCredential',
    );
    expect((await credentialFromEnv({ ...base, AZURE_FEDERATED_TOKEN_FILE: '/var/run/token' })).constructor.name).toBe(
      'WorkloadIdentityCredential',
    );
    expect((await credentialFromEnv({})).constructor.name).toBe('ManagedIdentityCredential');
  });

  it('refuses a secret without tenant and client ids, with a coded error', async () => {
    await expect(credentialFromEnv({ AZURE_CLIENT_SECRET: 's' })).rejects.toMatchObject({
      code: 'CLOUD_CONFIG_INVALID',
    });
  });
});
