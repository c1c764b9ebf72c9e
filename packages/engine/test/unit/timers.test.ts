import { afterEach, describe, expect, it, vi } from 'vitest';
import { TimerQueue } from '../../src/runner/timers.js';

describe('TimerQueue', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires due timers in deadline order, skips cancelled ones, fires overdue ones at once', () => {
    vi.useFakeTimers();
    let now = 1_000;
    const fired: string[] = [];
    const queue = new TimerQueue(
      () => now,
      (_instance, timerId) => fired.push(timerId),
    );
    queue.schedule('i', 'c', 1_300);
    queue.schedule('i', 'a', 1_100);
    queue.schedule('i', 'b', 1_200);
    queue.schedule('i', 'late', 500); // due while the engine was off
    queue.cancel('b');
    vi.advanceTimersByTime(0);
    expect(fired).toEqual(['late']);
    now = 1_250;
    vi.advanceTimersByTime(250);
    expect(fired).toEqual(['late', 'a']);
    now = 1_300;
    vi.advanceTimersByTime(50);
    expect(fired).toEqual(['late', 'a', 'c']);
    expect(queue.size).toBe(0);
    queue.schedule('i', 'never', 2_000);
    queue.close();
    now = 5_000;
    vi.advanceTimersByTime(5_000);
    expect(fired).toHaveLength(3);
  });
});
