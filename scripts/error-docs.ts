/**
 * Renders docs/errors.md from every workspace's exported `errorCatalog` (thrown errors) and
 * `problemCatalog` (validation problems). `npm run docs:errors` writes the file; the contract test in
 * test/contract fails when the file is missing a code or is out of date.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface CatalogEntry {
  code: string;
  retryable?: boolean;
  summary: string;
}

export interface PackageCatalogs {
  name: string;
  folder: string;
  errors: CatalogEntry[];
  problems: CatalogEntry[];
}

export const repoRoot = fileURLToPath(new URL('..', import.meta.url));
export const errorDocsPath = join(repoRoot, 'docs', 'errors.md');

function entries(catalog: unknown): CatalogEntry[] {
  if (typeof catalog !== 'object' || catalog === null) return [];
  return Object.entries(catalog as Record<string, { retryable?: boolean; summary?: string }>)
    .map(([code, info]) => ({
      code,
      ...(typeof info.retryable === 'boolean' ? { retryable: info.retryable } : {}),
      summary: info.summary ?? '',
    }))
    .sort((a, b) => a.code.localeCompare(b.code));
}

/** Imports every workspace package under packages/, modules/ and simulators/ and reads its catalogs. */
export async function collectCatalogs(): Promise<PackageCatalogs[]> {
  const out: PackageCatalogs[] = [];
  for (const group of ['packages', 'modules', 'simulators']) {
    let folders: string[] = [];
    try {
      folders = readdirSync(join(repoRoot, group)).sort();
    } catch {
      continue;
    }
    for (const folder of folders) {
      let name: string;
      try {
        name = (JSON.parse(readFileSync(join(repoRoot, group, folder, 'package.json'), 'utf8')) as { name: string })
          .name;
      } catch {
        continue;
      }
      const mod = (await import(name)) as { errorCatalog?: unknown; problemCatalog?: unknown };
      const errors = entries(mod.errorCatalog);
      const problems = entries(mod.problemCatalog);
      if (errors.length + problems.length > 0) out.push({ name, folder: `${group}/${folder}`, errors, problems });
    }
  }
  return out;
}

const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function renderErrorDocs(catalogs: readonly PackageCatalogs[]): string {
  const lines = [
    '# Error codes',
    '',
    'Every coded error a Takt package can raise, and every validation problem it can report. Errors carry',
    '`code`, `message`, `retryable` and the original `cause`; direct methods and the HTTP API return',
    '`{code, message, retryable, details}`. Check `code`, never the message text.',
    '',
    "This file is rendered from each package's `errorCatalog` / `problemCatalog` by `npm run docs:errors`;",
    '`npm test` fails when it is missing a code or out of date.',
    '',
  ];
  for (const pkg of catalogs) {
    lines.push(`## ${pkg.name}`, '', `Source: \`${pkg.folder}\``, '');
    if (pkg.errors.length > 0) {
      lines.push('| code | retryable | what it means, what to do |', '|---|---|---|');
      for (const e of pkg.errors) lines.push(`| \`${e.code}\` | ${e.retryable ? 'yes' : 'no'} | ${cell(e.summary)} |`);
      lines.push('');
    }
    if (pkg.problems.length > 0) {
      lines.push('Validation problems:', '', '| code | what it means, what to do |', '|---|---|');
      for (const p of pkg.problems) lines.push(`| \`${p.code}\` | ${cell(p.summary)} |`);
      lines.push('');
    }
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const text = renderErrorDocs(await collectCatalogs());
  writeFileSync(errorDocsPath, text);
  process.stdout.write(`wrote ${errorDocsPath}\n`);
}
