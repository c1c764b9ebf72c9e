import { describe, expect, it } from 'vitest';
import { EdgeKitError, errorCatalog, isCodedError, isRetryable } from '../../src/index.js';

describe('coded errors', () => {
  it('take retryable from the catalog, keep cause and details, and serialize', () => {
    const cause = new Error('ECONNRESET');
    const error = new EdgeKitError('OPERATION_TIMEOUT', 'twin GET did not answer', { cause, details: { ms: 5 } });
    expect(error.retryable).toBe(errorCatalog.OPERATION_TIMEOUT.retryable);
    expect(error.cause).toBe(cause);
    expect(error.toJSON()).toEqual({
      code: 'OPERATION_TIMEOUT',
      message: 'twin GET did not answer',
      retryable: true,
      details: { ms: 5 },
    });
    expect(new EdgeKitError('CONFIG_INVALID', 'x', { retryable: true }).retryable).toBe(true);
  });

  it('are recognised by code, not by class', () => {
    const foreign = { code: 'CIRCUIT_OPEN', retryable: true, message: 'from another copy of the package' };
    expect(isCodedError(foreign, 'CIRCUIT_OPEN')).toBe(true);
    expect(isCodedError(foreign, 'CONFIG_INVALID')).toBe(false);
    expect(isCodedError(new Error('plain'))).toBe(false);
    expect(isCodedError(Object.assign(new Error('node'), { code: 'ECONNRESET' }))).toBe(false);
    expect(isRetryable(foreign)).toBe(true);
    expect(isRetryable(new EdgeKitError('CONFIG_INVALID', 'x'))).toBe(false);
  });

  it('have a summary for every code', () => {
    for (const [code, info] of Object.entries(errorCatalog)) {
      expect(code).toMatch(/^[A-Z][A-Z0-9_]+$/);
      expect(info.summary.length, code).toBeGreaterThan(30);
    }
  });
});
