/** Real time and timers, injected so the runtime can be driven by a fake clock in tests. */
export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  setInterval(callback: () => void, intervalMs: number): () => void;
}

export const realClock: Clock = {
  now: () => performance.now(),
  setInterval(callback, intervalMs) {
    const handle = setInterval(callback, intervalMs);
    return () => clearInterval(handle);
  },
};
