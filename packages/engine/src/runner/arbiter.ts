/**
 * Resource arbitration between instances: one holder per resource (ISA-88 unit allocation), waiting
 * requests granted by priority (higher first), then request time, then request id. Pure and
 * in-memory; the runner rebuilds it from the instances' states after a restart.
 */

export interface ResourceRequest {
  requestId: string;
  instanceId: string;
  resource: string;
  priority: number;
  requestedAtMs: number;
}

const before = (a: ResourceRequest, b: ResourceRequest): number =>
  b.priority - a.priority || a.requestedAtMs - b.requestedAtMs || (a.requestId < b.requestId ? -1 : 1);

export class ResourceArbiter {
  private readonly holders = new Map<string, ResourceRequest>();
  private readonly waiting = new Map<string, ResourceRequest[]>();

  /** Records a request; returns true when it is granted at once. */
  request(request: ResourceRequest): boolean {
    const holder = this.holders.get(request.resource);
    if (holder?.requestId === request.requestId) return true;
    const queue = this.waiting.get(request.resource) ?? [];
    if (holder === undefined && queue.length === 0) {
      this.holders.set(request.resource, request);
      return true;
    }
    if (!queue.some((r) => r.requestId === request.requestId)) {
      queue.push(request);
      queue.sort(before);
      this.waiting.set(request.resource, queue);
    }
    return false;
  }

  /** Marks a request as already holding (recovery). */
  restoreHolder(request: ResourceRequest): void {
    this.holders.set(request.resource, request);
  }

  /** Releases a holding or withdraws a waiting request; returns the requests granted as a result. */
  release(requestId: string, resource: string): ResourceRequest[] {
    const queue = this.waiting.get(resource);
    if (queue !== undefined) {
      const index = queue.findIndex((r) => r.requestId === requestId);
      if (index >= 0) queue.splice(index, 1);
    }
    const holder = this.holders.get(resource);
    if (holder?.requestId === requestId) this.holders.delete(resource);
    return this.grantFree(resource);
  }

  /** Grants the next waiting request of `resource` if it is free. */
  grantFree(resource: string): ResourceRequest[] {
    if (this.holders.has(resource)) return [];
    const queue = this.waiting.get(resource);
    const next = queue?.shift();
    if (next === undefined) return [];
    this.holders.set(resource, next);
    if (queue !== undefined && queue.length === 0) this.waiting.delete(resource);
    return [next];
  }

  /** Releases everything an instance holds or waits for (it ended). */
  releaseInstance(instanceId: string): ResourceRequest[] {
    const granted: ResourceRequest[] = [];
    for (const [resource, queue] of this.waiting) {
      this.waiting.set(
        resource,
        queue.filter((r) => r.instanceId !== instanceId),
      );
    }
    for (const [resource, holder] of [...this.holders]) {
      if (holder.instanceId === instanceId) {
        this.holders.delete(resource);
        granted.push(...this.grantFree(resource));
      }
    }
    return granted;
  }

  holderOf(resource: string): ResourceRequest | undefined {
    return this.holders.get(resource);
  }

  waitingFor(resource: string): readonly ResourceRequest[] {
    return this.waiting.get(resource) ?? [];
  }
}
