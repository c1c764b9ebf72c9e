/**
 * Runtime error codes a workflow can `retry` and `catch` by name. They are data of the language (the
 * designer offers them; connectors and the engine raise them), not exceptions of this package.
 * A definition adds its own codes under `errors` for its `fail` steps.
 */
export const runtimeErrorCatalog = {
  DEVICE_UNREACHABLE: { retryable: true, summary: 'The OPC UA server or PLC did not answer (no session).' },
  DEVICE_BAD_STATUS: { retryable: false, summary: 'The device answered with a Bad status code for the node.' },
  DEVICE_WRITE_REJECTED: { retryable: false, summary: 'The device refused the write (access, range, type).' },
  DEVICE_READBACK_MISMATCH: {
    retryable: true,
    summary: 'After a write, reading the node back gave a different value.',
  },
  DEVICE_METHOD_FAILED: { retryable: false, summary: 'An OPC UA method call returned a Bad status.' },
  CIRCUIT_OPEN: { retryable: true, summary: 'Calls to the device endpoint are paused by its circuit breaker.' },
  HANDLER_FAILED: { retryable: true, summary: 'An `invoke` or `publish` handler failed.' },
  WF_STEP_TIMEOUT: { retryable: true, summary: 'The step did not finish within its `timeoutMs`.' },
  WF_DEADLINE_MISSED: {
    retryable: false,
    summary: 'A wait was due while the engine was off and its `onLate` policy is `fail`.',
  },
  WF_RESOURCE_TIMEOUT: { retryable: true, summary: 'A required resource was not granted within its timeout.' },
  WF_APPROVAL_REJECTED: { retryable: false, summary: 'An approver rejected the approval step.' },
  WF_EXPRESSION_FAILED: { retryable: false, summary: 'An expression failed, timed out or nested too deep.' },
  WF_NO_CHOICE_MATCHED: { retryable: false, summary: 'No rule of a choice step matched and it has no default.' },
  WF_CHILD_FAILED: { retryable: false, summary: 'A sub-workflow ended failed, aborted or cancelled.' },
  WF_PHASE_FAILED: { retryable: false, summary: 'The unit reported the phase as Aborted or Stopped.' },
  WF_IN_DOUBT_FAILED: {
    retryable: false,
    summary: 'An in-doubt device write was resolved as failed (operator decision or read-back mismatch).',
  },
  WF_VARIABLE_TOO_LARGE: { retryable: false, summary: 'A result or variable exceeds the size limit.' },
  WF_INTERLOCK_BREACHED: { retryable: false, summary: 'An interlock condition stopped holding.' },
} as const satisfies Record<string, { retryable: boolean; summary: string }>;

export type RuntimeErrorCode = keyof typeof runtimeErrorCatalog;

/** True when an error code matches a retry or catch list (`*` matches all). */
export function matchesError(patterns: readonly string[], code: string): boolean {
  return patterns.includes('*') || patterns.includes(code);
}
