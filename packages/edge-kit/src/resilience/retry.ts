import { EdgeKitError, isRetryable } from '../errors.js';
import { sleep, throwIfAborted } from './abort.js';

export interface RetryOptions {
  /** Attempts in all, including the first. Default 5; `Infinity` retries until aborted. */
  maxAttempts?: number;
  /** Cap of the first backoff window. Default 100 ms. */
  initialDelayMs?: number;
  /** Largest backoff window. Default 30,000 ms. */
  maxDelayMs?: number;
  /** Growth of the window per attempt. Default 2. */
  factor?: number;
  /** Which errors are worth another attempt. Default: coded errors marked `retryable`. */
  shouldRetry?: (error: unknown, attempt: number) => boolean;
  /** Called before each wait, e.g. to log. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  signal?: AbortSignal;
  /** Injected randomness in [0, 1), for tests. Default Math.random. */
  random?: () => number;
  /** Injected sleep, for tests. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/**
 * Backoff window before attempt `attempt + 1` with full jitter (AWS architecture blog, "Exponential
 * Backoff And Jitter"): uniform in [0, min(maxDelayMs, initialDelayMs · factor^(attempt-1))).
 */
export function backoffDelayMs(
  attempt: number,
  options: Pick<RetryOptions, 'initialDelayMs' | 'maxDelayMs' | 'factor' | 'random'> = {},
): number {
  const initial = options.initialDelayMs ?? 100;
  const cap = options.maxDelayMs ?? 30_000;
  const factor = options.factor ?? 2;
  const random = options.random ?? Math.random;
  const window = Math.min(cap, initial * factor ** Math.max(0, attempt - 1));
  return Math.floor(random() * window);
}

/**
 * Runs `operation` until it succeeds, retrying only what `shouldRetry` accepts (default: coded
 * `retryable` errors) with exponential backoff and full jitter. A non-retryable error is rethrown as
 * is; running out of attempts throws RETRY_EXHAUSTED with the last error as `cause`.
 *
 * @example
 * const twin = await retry((signal) => client.getTwin(signal), { maxAttempts: 10, signal });
 */
export async function retry<T>(
  operation: (signal: AbortSignal | undefined, attempt: number) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const maxAttempts = options.maxAttempts ?? 5;
  const shouldRetry = options.shouldRetry ?? ((error: unknown) => isRetryable(error));
  const wait = options.sleep ?? sleep;
  for (let attempt = 1; ; attempt += 1) {
    throwIfAborted(options.signal, 'retried operation');
    try {
      return await operation(options.signal, attempt);
    } catch (error) {
      if (options.signal?.aborted) throw error;
      if (!shouldRetry(error, attempt)) throw error;
      if (attempt >= maxAttempts) {
        throw new EdgeKitError('RETRY_EXHAUSTED', `gave up after ${attempt} attempts`, {
          cause: error,
          details: { attempts: attempt },
        });
      }
      const delayMs = backoffDelayMs(attempt, options);
      options.onRetry?.(error, attempt, delayMs);
      await wait(delayMs, options.signal);
    }
  }
}
