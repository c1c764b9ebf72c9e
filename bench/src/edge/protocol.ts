/** Messages between the edge benchmark and its module worker processes. */
export type ParentCommand =
  | { type: 'expect'; count: number }
  | { type: 'send-sequential'; count: number; bytes: number; gapMs: number; timeoutMs: number }
  | { type: 'send-window'; count: number; bytes: number; window: number; timeoutMs: number }
  | { type: 'invoke'; count: number; deviceId: string; target: string; timeoutMs: number }
  | { type: 'ping-pong'; count: number; timeoutMs: number }
  | { type: 'close' };

export type WorkerReport =
  | { type: 'ready' }
  | { type: 'expecting' }
  | { type: 'sent'; spanNs?: number }
  | { type: 'received'; latenciesNs: number[]; count: number; spanNs: number }
  | { type: 'invoked'; latenciesNs: number[] }
  | { type: 'ponged'; latenciesNs: number[] }
  | { type: 'error'; message: string };
