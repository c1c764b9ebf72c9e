import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { envBoolean, parseConfig, resolveConfig } from '../../src/index.js';

const Schema = z.object({
  env: z.object({
    TAKT_HTTP_PORT: z.coerce.number().int().min(1).max(65535).default(8080),
    TAKT_DATA_DIR: z.string().min(1),
    TAKT_CONSOLE: envBoolean().default(true),
  }),
  settings: z
    .object({
      maxInstances: z.number().int().positive().default(1000),
      retryDelayMs: z.number().int().nonnegative().default(500),
    })
    .default({ maxInstances: 1000, retryDelayMs: 500 }),
});

describe('config', () => {
  it('parses, defaults and freezes', () => {
    const config = resolveConfig(Schema, {
      env: { TAKT_DATA_DIR: '/data', TAKT_CONSOLE: 'No' },
      settings: { retryDelayMs: 0 },
    });
    expect(config).toEqual({
      env: { TAKT_HTTP_PORT: 8080, TAKT_DATA_DIR: '/data', TAKT_CONSOLE: false },
      settings: { maxInstances: 1000, retryDelayMs: 0 },
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.settings)).toBe(true);
  });

  it('lists every problem with its path', () => {
    let thrown: unknown;
    try {
      resolveConfig(Schema, {
        env: { TAKT_HTTP_PORT: '99999', TAKT_CONSOLE: 'maybe' },
        settings: { maxInstances: -1 },
      });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({ code: 'CONFIG_INVALID', retryable: false });
    const problems = (thrown as { details: { problems: { path: string }[] } }).details.problems.map((p) => p.path);
    expect(problems.sort()).toEqual([
      'env.TAKT_CONSOLE',
      'env.TAKT_DATA_DIR',
      'env.TAKT_HTTP_PORT',
      'settings.maxInstances',
    ]);
  });

  it('parseConfig reports instead of throwing', () => {
    const result = parseConfig(Schema.shape.settings, { maxInstances: 'many' });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problems).toEqual([{ path: 'maxInstances', message: expect.any(String) as string }]);
  });
});
