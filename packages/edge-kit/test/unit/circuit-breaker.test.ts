import { describe, expect, it } from 'vitest';
import { CircuitBreaker, type CircuitState } from '../../src/index.js';

describe('CircuitBreaker', () => {
  it('opens after N consecutive failures, probes once after the open period, then closes', async () => {
    let now = 0;
    const changes: CircuitState[] = [];
    const breaker = new CircuitBreaker({
      name: 'opc.tcp://plc1',
      failureThreshold: 3,
      openMs: 1_000,
      now: () => now,
      onStateChange: (s) => changes.push(s),
    });
    const fail = () => Promise.reject(new Error('down'));
    for (let i = 0; i < 3; i += 1) await expect(breaker.execute(fail)).rejects.toThrow('down');
    expect(breaker.state).toBe('open');
    let called = false;
    await expect(
      breaker.execute(() => {
        called = true;
        return Promise.resolve(1);
      }),
    ).rejects.toMatchObject({ code: 'CIRCUIT_OPEN', details: { retryInMs: 1_000 } });
    expect(called).toBe(false);

    now = 1_000;
    expect(breaker.state).toBe('half-open');
    let release: (v: number) => void = () => undefined;
    const probe = breaker.execute(() => new Promise<number>((resolve) => (release = resolve)));
    // a second call while the probe is out is refused
    await expect(breaker.execute(() => Promise.resolve(2))).rejects.toMatchObject({ code: 'CIRCUIT_OPEN' });
    release(42);
    await expect(probe).resolves.toBe(42);
    expect(breaker.state).toBe('closed');
    expect(changes).toEqual(['open', 'half-open', 'closed']);
    expect(breaker.stats()).toMatchObject({ failures: 3, successes: 1, rejected: 2, opened: 1 });
  });

  it('re-opens when the probe fails', async () => {
    let now = 0;
    const breaker = new CircuitBreaker({ name: 'x', failureThreshold: 1, openMs: 100, now: () => now });
    await expect(breaker.execute(() => Promise.reject(new Error('a')))).rejects.toThrow();
    now = 100;
    await expect(breaker.execute(() => Promise.reject(new Error('b')))).rejects.toThrow('b');
    expect(breaker.state).toBe('open');
    now = 150;
    await expect(breaker.execute(() => Promise.resolve(1))).rejects.toMatchObject({ code: 'CIRCUIT_OPEN' });
  });

  it('ignores errors that are not failures of the dependency', async () => {
    const breaker = new CircuitBreaker({
      name: 'x',
      failureThreshold: 1,
      isFailure: (e) => (e as { code?: string }).code !== 'BAD_REQUEST',
    });
    await expect(
      breaker.execute(() => Promise.reject(Object.assign(new Error(), { code: 'BAD_REQUEST' }))),
    ).rejects.toThrow();
    expect(breaker.state).toBe('closed');
  });
});
