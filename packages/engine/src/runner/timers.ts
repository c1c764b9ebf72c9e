/**
 * Durable timers' in-memory side: a min-heap of deadlines with one Node timer armed for the
 * earliest. Deadlines are wall-clock epoch ms (they survive a restart in the store); ones already
 * past fire at once, and the step's `onLate` policy decides what a late firing means.
 */

interface Entry {
  timerId: string;
  instanceId: string;
  dueAtMs: number;
}

const MAX_DELAY_MS = 2_147_483_647;

export class TimerQueue {
  private heap: Entry[] = [];
  private readonly live = new Map<string, Entry>();
  private handle: ReturnType<typeof setTimeout> | undefined;
  private armedFor: number | undefined;
  private closed = false;

  constructor(
    private readonly now: () => number,
    private readonly fire: (instanceId: string, timerId: string) => void,
  ) {}

  get size(): number {
    return this.live.size;
  }

  schedule(instanceId: string, timerId: string, dueAtMs: number): void {
    if (this.closed) return;
    const entry = { timerId, instanceId, dueAtMs };
    this.live.set(timerId, entry);
    this.push(entry);
    this.arm();
  }

  cancel(timerId: string): void {
    this.live.delete(timerId);
  }

  close(): void {
    this.closed = true;
    if (this.handle !== undefined) clearTimeout(this.handle);
    this.handle = undefined;
    this.live.clear();
    this.heap = [];
  }

  private push(entry: Entry): void {
    const heap = this.heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((heap[parent] as Entry).dueAtMs <= entry.dueAtMs) break;
      heap[i] = heap[parent] as Entry;
      i = parent;
    }
    heap[i] = entry;
  }

  private pop(): Entry | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    let i = 0;
    // A binary heap of n entries is log2(n) levels deep: 64 levels bound any realistic size.
    for (let level = 0; level < 64; level++) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      const current = (smallest === i ? last : heap[smallest]) as Entry;
      let best = current.dueAtMs;
      if (left < heap.length && (heap[left] as Entry).dueAtMs < best) {
        smallest = left;
        best = (heap[left] as Entry).dueAtMs;
      }
      if (right < heap.length && (heap[right] as Entry).dueAtMs < best) smallest = right;
      if (smallest === i) break;
      heap[i] = heap[smallest] as Entry;
      i = smallest;
    }
    heap[i] = last;
    return top;
  }

  private arm(): void {
    const next = this.heap[0];
    if (next === undefined || this.closed) return;
    if (this.armedFor !== undefined && this.armedFor <= next.dueAtMs) return;
    if (this.handle !== undefined) clearTimeout(this.handle);
    this.armedFor = next.dueAtMs;
    const delay = Math.min(MAX_DELAY_MS, Math.max(0, next.dueAtMs - this.now()));
    this.handle = setTimeout(() => this.run(), delay);
  }

  private run(): void {
    this.handle = undefined;
    this.armedFor = undefined;
    const now = this.now();
    for (let guard = 0; guard < 1_000_000; guard++) {
      const top = this.heap[0];
      if (top === undefined || top.dueAtMs > now) break;
      this.pop();
      if (this.live.get(top.timerId) !== top) continue;
      this.live.delete(top.timerId);
      this.fire(top.instanceId, top.timerId);
    }
    this.arm();
  }
}
