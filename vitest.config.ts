import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

/**
 * Three rings (STYLE.md "Tests"): the folder says which.
 * - unit:        <workspace>/test/unit/**       pure logic, fakes only at boundaries
 * - integration: <workspace>/test/integration/** real SDKs, real SQLite, real servers and child processes
 * - e2e:         test/e2e/**                      the whole suite as separate processes
 * Every project loads the egress guard (test/support/src/vitest-setup.ts).
 */
const workspaces = '{packages,modules,simulators,test,bench}/*';
// Without 'module': a package whose "module" export is extensionless ESM (@opentelemetry/api) must load as CJS under Node.
const conditions = ['takt-source', ...defaultServerConditions.filter((c) => c !== 'module')];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    pool: 'forks',
    setupFiles: ['test/support/src/vitest-setup.ts'],
    restoreMocks: true,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: [`${workspaces}/test/unit/**/*.test.ts`, 'test/contract/**/*.test.ts'],
          testTimeout: 10_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: [`${workspaces}/test/integration/**/*.test.ts`],
          testTimeout: 120_000,
          hookTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
