import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import AjvDraft04 from 'ajv-draft-04';

// a CommonJS module: its class is the `default` property of module.exports
const Ajv = AjvDraft04.default;

/** `deployment/schemas/` of this repository (copies of the official schemas). */
export const defaultSchemaDir = fileURLToPath(new URL('../../../../deployment/schemas/', import.meta.url));

const SCHEMA_FILES = [
  'azure-iot-edge-deployment-2.0.json',
  'azure-iot-edge-deployment-template-4.0.json',
  'azure-iot-edgeagent-deployment-1.1.json',
  'azure-iot-edgehub-deployment-1.2.json',
] as const;

/** Which schema: the rendered manifest, the template, or one section as the Azure CLI checks it. */
export type ManifestSchema = 'deployment-2.0' | 'template-4.0' | 'edgeagent-1.1' | 'edgehub-1.2';

const SCHEMA_IDS: Record<ManifestSchema, string> = {
  'deployment-2.0': 'https://json.schemastore.org/azure-iot-edge-deployment-2.0.json',
  'template-4.0': 'https://json.schemastore.org/azure-iot-edge-deployment-template-4.0.json',
  'edgeagent-1.1': 'https://json.schemastore.org/azure-iot-edgeagent-deployment-1.1.json',
  'edgehub-1.2': 'https://json.schemastore.org/azure-iot-edgehub-deployment-1.2.json',
};

/** A validator for the official manifest schemas (draft-04, `$ref`s resolved to local files). */
export interface ManifestValidator {
  /** Problems as `<json path> <message>`; empty when valid. */
  validate(schema: ManifestSchema, document: unknown): string[];
}

export function createManifestValidator(schemaDir: string = defaultSchemaDir): ManifestValidator {
  // strict off: the official files use `examples` and `contentMediaType`, which draft-04 does not define
  const ajv = new Ajv({ strict: false, allErrors: true });
  for (const file of SCHEMA_FILES) {
    const schema = JSON.parse(readFileSync(`${schemaDir.replace(/\/?$/, '/')}${file}`, 'utf8')) as Record<
      string,
      unknown
    >;
    ajv.addSchema(schema);
  }
  return {
    validate(schema, document) {
      const check = ajv.getSchema(SCHEMA_IDS[schema]);
      if (check === undefined) return [`schema ${schema} not loaded`];
      if (check(document)) return [];
      return (check.errors ?? []).map(
        (e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`,
      );
    },
  };
}

/**
 * Validates a rendered manifest as `az iot edge set-modules` would: the whole document against
 * azure-iot-edge-deployment-2.0, `$edgeAgent` against edgeagent-1.1 and `$edgeHub` against edgehub-1.2.
 */
export function validateRenderedManifest(validator: ManifestValidator, manifest: unknown): string[] {
  const problems = validator.validate('deployment-2.0', manifest).map((p) => `deployment-2.0: ${p}`);
  const content = (manifest as { modulesContent?: Record<string, unknown> } | null)?.modulesContent;
  if (content !== undefined) {
    problems.push(
      ...validator.validate('edgeagent-1.1', { $edgeAgent: content['$edgeAgent'] }).map((p) => `edgeagent-1.1: ${p}`),
      ...validator.validate('edgehub-1.2', { $edgeHub: content['$edgeHub'] }).map((p) => `edgehub-1.2: ${p}`),
    );
  }
  return problems;
}
