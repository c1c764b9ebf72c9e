import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { collectCatalogs, errorDocsPath, renderErrorDocs } from '../../scripts/error-docs.js';

describe('docs/errors.md', () => {
  it('lists every error and problem code of every package, up to date', async () => {
    const catalogs = await collectCatalogs();
    expect(catalogs.map((c) => c.name)).toContain('@takt/edge-kit');
    const doc = readFileSync(errorDocsPath, 'utf8');
    const missing = catalogs
      .flatMap((c) => [...c.errors, ...c.problems].map((e) => e.code))
      .filter((code) => !doc.includes(`| \`${code}\` |`));
    expect(missing, 'codes missing from docs/errors.md: run `npm run docs:errors`').toEqual([]);
    expect(doc, 'docs/errors.md is out of date: run `npm run docs:errors`').toBe(renderErrorDocs(catalogs));
  }, 60_000);

  it('gives every code a summary that says what to do', async () => {
    for (const pkg of await collectCatalogs()) {
      for (const entry of [...pkg.errors, ...pkg.problems]) {
        expect(entry.code, pkg.name).toMatch(/^[A-Z][A-Z0-9_]+$/);
        expect(entry.summary.length, `${pkg.name} ${entry.code}`).toBeGreaterThan(20);
      }
    }
  }, 60_000);
});
