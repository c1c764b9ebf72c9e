/**
 * Definitions are versioned by content: the hash of their canonical JSON (keys sorted). A running
 * instance keeps the hash it started with, so deploying a new version never changes it.
 */
import { createHash } from 'node:crypto';
import { type Json, type WorkflowDefinition, parseWorkflow } from '@takt/workflow';
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
