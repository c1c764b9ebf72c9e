import { describe, expect, it, vi } from 'vitest';
import { EdgeKitError, backoffDelayMs, retry, sleep, withTimeout } from '../../src/index.js';

const transient = () => new EdgeKitError('OPERATION_TIMEOUT', 'transient');
const noSleep = () => Promise.resolve();

describe('retry', () => {
  it('retries retryable errors and returns the first success', async () => {
    let calls = 0;
    const delays: number[] = [];
    const result = await retry(
      () => {
        calls += 1;
        if (calls < 3) return Promise.reject(transient());
        return Promise.resolve('ok');
      },
      { sleep: noSleep, random: () => 0.5, onRetry: (_e, _a, d) => delays.push(d) },
    );
    expect(result).toBe('ok');
    expect(calls).toBe(3);
    expect(delays).toEqual([50, 100]);
  });

  it('rethrows a non-retryable error at once', async () => {
    const fatal = new EdgeKitError('CONFIG_INVALID', 'bad');
    const op = vi.fn(() => Promise.reject(fatal));
    await expect(retry(op, { sleep: noSleep })).rejects.toBe(fatal);
    expect(op).toHaveBeenCalledTimes(1);
  });

  it('gives up with RETRY_EXHAUSTED carrying the last error', async () => {
    const last = transient();
    await expect(retry(() => Promise.reject(last), { maxAttempts: 3, sleep: noSleep })).rejects.toMatchObject({
      code: 'RETRY_EXHAUSTED',
      cause: last,
      details: { attempts: 3 },
    });
  });

  it('stops when aborted, also during the backoff wait', async () => {
    const controller = new AbortController();
    const promise = retry(() => Promise.reject(transient()), {
      maxAttempts: Infinity,
      initialDelayMs: 10_000,
      random: () => 0.99,
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 20);
    await expect(promise).rejects.toMatchObject({ code: 'OPERATION_ABORTED' });
  });

  it('uses full jitter below an exponential cap', () => {
    const opts = { initialDelayMs: 100, maxDelayMs: 1_000, factor: 2 };
    expect(backoffDelayMs(1, { ...opts, random: () => 0.999 })).toBe(99);
    expect(backoffDelayMs(3, { ...opts, random: () => 0.999 })).toBe(399);
    expect(backoffDelayMs(10, { ...opts, random: () => 0.999 })).toBe(999);
    expect(backoffDelayMs(10, { ...opts, random: () => 0 })).toBe(0);
  });
});

describe('withTimeout and sleep', () => {
  it('rejects with OPERATION_TIMEOUT and aborts the operation', async () => {
    let seen: AbortSignal | undefined;
    await expect(
      withTimeout('never', 20, (signal) => {
        seen = signal;
        return new Promise(() => undefined);
      }),
    ).rejects.toMatchObject({ code: 'OPERATION_TIMEOUT', retryable: true });
    expect(seen?.aborted).toBe(true);
  });

  it('returns the result when in time', async () => {
    await expect(withTimeout('quick', 1_000, () => Promise.resolve(7))).resolves.toBe(7);
  });

  it('sleep rejects when aborted', async () => {
    const controller = new AbortController();
    const pending = sleep(10_000, controller.signal);
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: 'OPERATION_ABORTED' });
  });
});
