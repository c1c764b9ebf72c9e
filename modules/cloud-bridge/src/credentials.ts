import type { TokenCredential } from '@azure/identity';
import { CloudBridgeError } from './errors.js';

/**
 * A Microsoft Entra credential from the environment, loaded lazily (only a module that needs one pays
 * for @azure/identity):
 * - `AZURE_TENANT_ID` + `AZURE_CLIENT_ID` + `AZURE_CLIENT_SECRET` → client secret;
 * - … + `AZURE_CLIENT_CERTIFICATE_PATH` → certificate;
 * - `AZURE_FEDERATED_TOKEN_FILE` (+ tenant, client) → workload identity;
 * - otherwise managed identity (`AZURE_CLIENT_ID` picks a user-assigned one).
 * `AZURE_AUTHORITY_HOST` overrides the login host (sovereign clouds, the local emulator).
 * Secrets are never logged.
 */
export async function credentialFromEnv(env: Readonly<Record<string, string | undefined>>): Promise<TokenCredential> {
  const identity = await import('@azure/identity');
  const tenant = env['AZURE_TENANT_ID'];
  const client = env['AZURE_CLIENT_ID'];
  const authorityHost = env['AZURE_AUTHORITY_HOST'];
  const common = authorityHost ? { authorityHost, disableInstanceDiscovery: true } : {};
  if (env['AZURE_CLIENT_SECRET'] || env['AZURE_CLIENT_CERTIFICATE_PATH']) {
    if (!tenant || !client) {
      throw new CloudBridgeError(
        'CLOUD_CONFIG_INVALID',
        'AZURE_TENANT_ID and AZURE_CLIENT_ID are required with a client secret or certificate',
        {
          details: { problems: [{ path: 'AZURE_TENANT_ID/AZURE_CLIENT_ID', message: 'required' }] },
        },
      );
    }
    const secret = env['AZURE_CLIENT_SECRET'];
    if (secret) return new identity.ClientSecretCredential(tenant, client, secret, common);
    return new identity.ClientCertificateCredential(
      tenant,
      client,
      { certificatePath: env['AZURE_CLIENT_CERTIFICATE_PATH'] ?? '' },
      common,
    );
  }
  if (env['AZURE_FEDERATED_TOKEN_FILE'] && tenant && client) {
    return new identity.WorkloadIdentityCredential({
      tenantId: tenant,
      clientId: client,
      tokenFilePath: env['AZURE_FEDERATED_TOKEN_FILE'],
      ...common,
    });
  }
  return client ? new identity.ManagedIdentityCredential(client) : new identity.ManagedIdentityCredential();
}
