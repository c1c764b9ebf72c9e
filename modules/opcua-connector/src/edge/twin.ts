/**
 * Writable twin properties: `settings` (whole), `publishedNodes` (whole: an OPC Publisher
 * published-nodes array) and `endpoints` (entries: command-only endpoints). Inline passwords are
 * refused in the twin (it is readable in the cloud): use `OpcAuthenticationPasswordSecret`.
 */
import type { PropertyVerdict, WritableProperty } from '@takt/edge-kit';
import type { z } from 'zod';
import { type PublishedNodesEntry, PublishedNodesFileSchema } from '../config/published-nodes.js';
import { CommandEndpointSchema, type Settings, SettingsSchema } from '../config/settings.js';

function verdict<S extends z.ZodType>(schema: S, value: unknown): PropertyVerdict<z.output<S>> {
  const parsed = schema.safeParse(value);
  return parsed.success
    ? { ok: true, value: parsed.data }
    : {
        ok: false,
        problems: parsed.error.issues.slice(0, 20).map((i) => `${i.path.join('.') || '(value)'}: ${i.message}`),
      };
}

function noInlinePasswords(entries: readonly { OpcAuthenticationPassword?: string | undefined }[]): string[] {
  return entries.some((e) => e.OpcAuthenticationPassword !== undefined)
    ? [
        'OpcAuthenticationPassword is not allowed in the twin; set OpcAuthenticationPasswordSecret and the OPCUA_SECRET_<name> environment variable',
      ]
    : [];
}

export const settingsProperty: WritableProperty<Settings> = {
  name: 'settings',
  mode: 'whole',
  validate: (value) => verdict(SettingsSchema, value),
};

export const publishedNodesProperty: WritableProperty<PublishedNodesEntry[]> = {
  name: 'publishedNodes',
  mode: 'whole',
  validate: (value) => {
    const result = verdict(PublishedNodesFileSchema, value);
    if (!result.ok) return result;
    const problems = noInlinePasswords(result.value);
    return problems.length > 0 ? { ok: false, problems } : result;
  },
};

export const endpointsProperty: WritableProperty<z.output<typeof CommandEndpointSchema>> = {
  name: 'endpoints',
  mode: 'entries',
  validate: (value) => {
    const result = verdict(CommandEndpointSchema, value);
    if (!result.ok) return result;
    const problems = noInlinePasswords([result.value]);
    return problems.length > 0 ? { ok: false, problems } : result;
  },
};
