import { EdgeKitError } from '../errors.js';

/** The error an aborted operation rejects with: the signal's reason if it is coded, else OPERATION_ABORTED. */
export function abortError(signal: AbortSignal, what: string): Error {
  const reason: unknown = signal.reason;
  if (
    reason instanceof Error &&
    typeof (reason as { code?: unknown }).code === 'string' &&
    reason.name !== 'AbortError'
  ) {
    return reason;
  }
  return new EdgeKitError('OPERATION_ABORTED', `${what} was aborted`, { cause: reason });
}

/** Throws if the signal is already aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw abortError(signal, what);
}

/** Waits `ms`, or rejects when the signal aborts; the timer is cleared on every path. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(signal, 'sleep'));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError(signal as AbortSignal, 'sleep'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs `operation` with a deadline: its signal aborts after `timeoutMs` (or when `signal` aborts) and the
 * returned promise rejects with OPERATION_TIMEOUT even if the operation ignores its signal.
 */
export async function withTimeout<T>(
  what: string,
  timeoutMs: number,
  operation: (signal: AbortSignal) => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  throwIfAborted(signal, what);
  const controller = new AbortController();
  const onOuterAbort = (): void => controller.abort(signal?.reason);
  signal?.addEventListener('abort', onOuterAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new EdgeKitError('OPERATION_TIMEOUT', `${what} did not finish within ${timeoutMs} ms`, {
        details: { timeoutMs },
      });
      controller.abort(error);
      reject(error);
    }, timeoutMs);
  });
  const aborted = new Promise<never>((_, reject) => {
    controller.signal.addEventListener('abort', () => reject(abortError(controller.signal, what)), { once: true });
  });
  try {
    return await Promise.race([operation(controller.signal), deadline, aborted]);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onOuterAbort);
    // A late abort of the losing promises must not become an unhandled rejection.
    deadline.catch(() => undefined);
    aborted.catch(() => undefined);
  }
}
