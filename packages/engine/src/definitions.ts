/**
 * Definitions are versioned by content: the hash of their canonical JSON (keys sorted). A running
 * instance keeps the hash it started with, so deploying a new version never changes it.
 */
import { createHash } from 'node:crypto';
import { type Json, type WorkflowDefinition, type WorkflowReference, parseWorkflow } from '@takt/workflow';
import { EngineError } from './errors.js';

/** JSON with object keys sorted at every level (RFC 8785-like, enough for hashing our own data). */
export function canonicalJson(value: Json): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item)).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key] as Json)}`).join(',')}}`;
}

/** The content hash of a definition: hex SHA-256 of its canonical JSON. */
export function definitionHash(definition: WorkflowDefinition): string {
  return createHash('sha256')
    .update(canonicalJson(definition as unknown as Json))
    .digest('hex');
}

/** Validates a definition for the engine; throws `WF_DEFINITION_INVALID` with `details.problems`. */
export function checkDefinition(definition: unknown): WorkflowDefinition {
  try {
    return parseWorkflow(definition);
  } catch (error) {
    const details = (error as { details?: Readonly<Record<string, unknown>> }).details;
    throw new EngineError('WF_DEFINITION_INVALID', error instanceof Error ? error.message : String(error), {
      cause: error,
      ...(details === undefined ? {} : { details }),
    });
  }
}

/**
 * Resolves a definition delivered by reference (`uri` + `sha256`): fetches the bytes with the
 * injected `fetchBytes` (the orchestrator's HTTPS/file reader with its disk cache), verifies the
 * SHA-256 before parsing, then validates. Throws `WF_DEFINITION_INVALID` on a hash mismatch, bad
 * JSON or an invalid definition, with `details.problems` where there are some.
 */
export async function resolveReference(
  reference: WorkflowReference,
  fetchBytes: (uri: string, signal?: AbortSignal) => Promise<Uint8Array>,
  signal?: AbortSignal,
): Promise<WorkflowDefinition> {
  const bytes = await fetchBytes(reference.uri, signal);
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== reference.sha256.toLowerCase()) {
    throw new EngineError('WF_DEFINITION_INVALID', `sha256 of ${reference.uri} does not match the reference`, {
      details: { expected: reference.sha256, actual, problems: [{ code: 'REFERENCE_INVALID', pointer: '/sha256' }] },
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes));
  } catch (cause) {
    throw new EngineError('WF_DEFINITION_INVALID', `${reference.uri} is not JSON`, { cause });
  }
  const definition = checkDefinition(parsed);
  if (definition.id !== reference.id || definition.version !== reference.version) {
    throw new EngineError('WF_DEFINITION_INVALID', 'the referenced document has another id or version', {
      details: {
        reference: { id: reference.id, version: reference.version },
        id: definition.id,
        version: definition.version,
      },
    });
  }
  return definition;
}
