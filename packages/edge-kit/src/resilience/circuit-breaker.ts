import { EdgeKitError } from '../errors.js';

export type CircuitState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  /** For messages and metrics, e.g. the endpoint URL. */
  name: string;
  /** Consecutive failures that open the circuit. Default 5. */
  failureThreshold?: number;
  /** How long the circuit stays open before one probe is let through. Default 10,000 ms. */
  openMs?: number;
  /** Which failures count. Default: every error. */
  isFailure?: (error: unknown) => boolean;
  /** Injected clock, for tests. */
  now?: () => number;
  /** Called on every state change. */
  onStateChange?: (state: CircuitState, previous: CircuitState) => void;
}

/** Counters of one breaker, for metrics and health reports. */
export interface CircuitBreakerStats {
  state: CircuitState;
  consecutiveFailures: number;
  successes: number;
  failures: number;
  /** Calls refused without reaching the dependency. */
  rejected: number;
  /** How often the circuit opened. */
  opened: number;
}

/**
 * A circuit breaker (closed → open after N consecutive failures → half-open after `openMs`, one probe;
 * its success closes, its failure re-opens). Stops a module from hammering a failed PLC or service.
 */
export class CircuitBreaker {
  readonly name: string;
  private readonly failureThreshold: number;
  private readonly openMs: number;
  private readonly isFailure: (error: unknown) => boolean;
  private readonly now: () => number;
  private readonly onStateChange: ((state: CircuitState, previous: CircuitState) => void) | undefined;
  private current: CircuitState = 'closed';
  private openedAt = 0;
  private probeInFlight = false;
  private readonly counters = { consecutiveFailures: 0, successes: 0, failures: 0, rejected: 0, opened: 0 };

  constructor(options: CircuitBreakerOptions) {
    this.name = options.name;
    this.failureThreshold = Math.max(1, options.failureThreshold ?? 5);
    this.openMs = Math.max(0, options.openMs ?? 10_000);
    this.isFailure = options.isFailure ?? (() => true);
    this.now = options.now ?? Date.now;
    this.onStateChange = options.onStateChange;
  }

  /** The state now (an open circuit whose time is up reads as half-open). */
  get state(): CircuitState {
    if (this.current === 'open' && this.now() - this.openedAt >= this.openMs) return 'half-open';
    return this.current;
  }

  stats(): CircuitBreakerStats {
    return { state: this.state, ...this.counters };
  }

  /** Runs `operation` through the breaker; throws CIRCUIT_OPEN without calling it while open. */
  async execute<T>(operation: () => Promise<T>): Promise<T> {
    this.admit();
    try {
      const result = await operation();
      this.recordSuccess();
      return result;
    } catch (error) {
      if (this.isFailure(error)) this.recordFailure();
      else this.recordSuccess();
      throw error;
    }
  }

  private admit(): void {
    const state = this.state;
    if (state === 'closed') return;
    if (state === 'half-open' && !this.probeInFlight) {
      this.transition('half-open');
      this.probeInFlight = true;
      return;
    }
    this.counters.rejected += 1;
    const retryInMs = Math.max(0, this.openMs - (this.now() - this.openedAt));
    throw new EdgeKitError('CIRCUIT_OPEN', `${this.name} is failing; calls paused for ${retryInMs} ms`, {
      details: { breaker: this.name, retryInMs, consecutiveFailures: this.counters.consecutiveFailures },
    });
  }

  private recordSuccess(): void {
    this.counters.successes += 1;
    this.counters.consecutiveFailures = 0;
    this.probeInFlight = false;
    if (this.current !== 'closed') this.transition('closed');
  }

  private recordFailure(): void {
    this.counters.failures += 1;
    this.counters.consecutiveFailures += 1;
    const wasProbe = this.probeInFlight;
    this.probeInFlight = false;
    if (wasProbe || this.counters.consecutiveFailures >= this.failureThreshold) {
      this.openedAt = this.now();
      if (this.current !== 'open') this.counters.opened += 1;
      this.transition('open');
    }
  }

  private transition(next: CircuitState): void {
    const previous = this.current;
    if (previous === next) return;
    this.current = next;
    this.onStateChange?.(next, previous);
  }
}
