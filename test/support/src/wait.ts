/** Options for {@link waitFor}. */
export interface WaitForOptions {
  /** Give up after this long. Default 10,000 ms. */
  timeoutMs?: number;
  /** First pause between checks; doubles up to `maxIntervalMs`. Default 10 ms. */
  intervalMs?: number;
  /** Longest pause between checks. Default 250 ms. */
  maxIntervalMs?: number;
  /** What is being waited for, for the timeout message. */
  description?: string;
  signal?: AbortSignal;
}

/** Raised when {@link waitFor} runs out of time; carries the last value or error seen. */
export class WaitTimeoutError extends Error {
  readonly code = 'WAIT_TIMEOUT';
  constructor(
    message: string,
    readonly lastValue: unknown,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'WaitTimeoutError';
  }
}

const pause = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/**
 * Polls `check` with backoff until it returns a value other than `undefined`, `null` or `false`, and
 * returns that value. A thrown error counts as "not yet" and is kept for the timeout message.
 *
 * @example const row = await waitFor(() => db.get(id), { timeoutMs: 5_000, description: 'row 7' });
 */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  options: WaitForOptions = {},
): Promise<Exclude<T, undefined | null | false>> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxIntervalMs = options.maxIntervalMs ?? 250;
  let intervalMs = options.intervalMs ?? 10;
  const deadline = Date.now() + timeoutMs;
  let lastValue: unknown;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== null && value !== false) {
        return value as Exclude<T, undefined | null | false>;
      }
      lastValue = value;
    } catch (error) {
      lastError = error;
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      const what = options.description ?? 'condition';
      throw new WaitTimeoutError(
        `waited ${timeoutMs} ms for ${what}; last value ${JSON.stringify(lastValue)}` +
          (lastError instanceof Error ? `; last error ${lastError.message}` : ''),
        lastValue,
        { cause: lastError },
      );
    }
    await pause(Math.min(intervalMs, remaining), options.signal);
    intervalMs = Math.min(intervalMs * 2, maxIntervalMs);
  }
}
