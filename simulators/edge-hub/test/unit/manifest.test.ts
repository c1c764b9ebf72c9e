import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  chunkCreateOptions,
  createManifestValidator,
  parseDeployment,
  renderTemplate,
  validateRenderedManifest,
} from '@takt/sim-edge-hub';

const templatePath = fileURLToPath(new URL('../../../../deployment/deployment.template.json', import.meta.url));
const template = JSON.parse(readFileSync(templatePath, 'utf8')) as Record<string, unknown>;
const validator = createManifestValidator();

describe('deployment manifest', () => {
  it('the template validates against the official template-4.0 schema', () => {
    expect(validator.validate('template-4.0', template)).toEqual([]);
  });

  it('renders to a manifest valid against azure-iot-edge-deployment-2.0, edgeAgent 1.1 and edgeHub 1.2', () => {
    const manifest = renderTemplate(template, { variables: { CONTAINER_REGISTRY_SERVER: 'takt.azurecr.io' } });
    expect(validateRenderedManifest(validator, manifest)).toEqual([]);
    const agent = manifest.modulesContent['$edgeAgent'] as {
      'properties.desired': { modules: Record<string, { settings: Record<string, string> }> };
    };
    const orchestrator = agent['properties.desired'].modules['orchestrator'];
    expect(orchestrator?.settings['image']).toBe('takt.azurecr.io/takt-orchestrator:0.1.0-amd64');
    expect(JSON.parse(orchestrator?.settings['createOptions'] ?? '')).toMatchObject({
      HostConfig: { Binds: ['takt-orchestrator-data:/app/data'], PortBindings: { '8080/tcp': [{ HostPort: '8080' }] } },
    });
    expect(JSON.stringify(manifest)).not.toContain('${');
  });

  it('the official schema catches a broken manifest', () => {
    const manifest = renderTemplate(template);
    const hub = manifest.modulesContent['$edgeHub'] as { 'properties.desired': { routes: Record<string, unknown> } };
    hub['properties.desired'].routes['bad'] = { route: 'FROM /* INTO $upstream', priority: 12 };
    expect(validateRenderedManifest(validator, manifest).length).toBeGreaterThan(0);
  });

  it('chunks createOptions at 512 characters as iotedgedev does', () => {
    const long = { Env: Array.from({ length: 60 }, (_, i) => `VARIABLE_${i}=some-value-${i}`) };
    const chunks = chunkCreateOptions(long);
    expect(Object.keys(chunks)).toEqual(['createOptions', 'createOptions01', 'createOptions02', 'createOptions03']);
    expect(Object.values(chunks).every((c) => c.length <= 512)).toBe(true);
    expect(JSON.parse(Object.values(chunks).join(''))).toEqual(long);
    expect(() => chunkCreateOptions({ x: 'y'.repeat(5000) })).toThrow();
  });

  it('the emulator reads modules, routes and TTL from the template', () => {
    const deployment = parseDeployment(template);
    expect(deployment.modules.map((m) => m.moduleId)).toEqual([
      'audit',
      'cloud-bridge',
      'opcua-connector',
      'orchestrator',
    ]);
    // the orchestrator's initial desired properties are the template's, verbatim (the sample batch deployment)
    const templateDesired = (template as { modulesContent: { orchestrator: { 'properties.desired': unknown } } })
      .modulesContent.orchestrator['properties.desired'];
    const orchestratorDesired = deployment.modules.find((m) => m.moduleId === 'orchestrator')?.desired;
    expect(orchestratorDesired).toEqual(templateDesired);
    expect(Object.keys(orchestratorDesired ?? {}).sort()).toEqual(['recipes', 'settings', 'workflows']);
    expect(deployment.defaultTtlSecs).toBe(7200);
    const byName = new Map(deployment.routes.map((r) => [r.name, r]));
    expect(byName.get('orchestratorAlertsToUpstream')).toMatchObject({ priority: 0, endpoint: { kind: 'upstream' } });
    expect(byName.get('connectorTagsToOrchestrator')?.endpoint).toEqual({
      kind: 'module',
      moduleId: 'orchestrator',
      input: 'tags',
    });
    expect(deployment.routes).toHaveLength(8);
  });
});
