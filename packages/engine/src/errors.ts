/**
 * Codes of the engine (STYLE.md "Errors"). Runtime codes that workflows catch by name (`WF_STEP_TIMEOUT`,
 * `DEVICE_UNREACHABLE`…) are data of the language (`runtimeErrorCatalog` in @takt/workflow); the ones
 * the engine itself raises are listed here too so that API callers get one closed set.
 */
import { type ErrorCatalog, TaktError, type TaktErrorOptions } from '@takt/edge-kit';

export const errorCatalog = {
  WF_DEFINITION_INVALID: {
    retryable: false,
    summary:
      'The workflow definition failed validation; `details.problems` lists each problem with a JSON pointer and a code. Fix the definition.',
  },
  WF_DEFINITION_NOT_FOUND: {
    retryable: false,
    summary: 'No definition with this id (and version or hash) is registered with the runner. Register it first.',
  },
  WF_PARAMETER_INVALID: {
    retryable: false,
    summary:
      'A start parameter is missing, of the wrong type, or outside its declared range or enum; `details.problems` says which. Correct the request.',
  },
  WF_INSTANCE_NOT_FOUND: {
    retryable: false,
    summary: 'No instance with this id exists in this runner. Check the id (instances are local to one orchestrator).',
  },
  WF_INVALID_TRANSITION: {
    retryable: false,
    summary:
      'The verb does not apply to the instance in its current state (e.g. restart while running, approve a closed task). Query the instance and retry with a verb that applies.',
  },
  WF_TASK_NOT_FOUND: {
    retryable: false,
    summary:
      'The task (approval, escalation, in-doubt question) is not open on this instance. It may already be answered.',
  },
  WF_ROLE_NOT_ALLOWED: {
    retryable: false,
    summary: 'The user acted in a role this approval step does not accept; `details.roles` lists the accepted roles.',
  },
  WF_SIGNATURE_REQUIRED: {
    retryable: false,
    summary: 'This approval needs an electronic signature (re-authentication, meaning, reason); send `signature`.',
  },
  WF_SIGNAL_MAILBOX_FULL: {
    retryable: true,
    summary: 'Too many signals are waiting for a step that has not started waiting yet. Retry later.',
  },
  WF_PAYLOAD_TOO_LARGE: {
    retryable: false,
    summary:
      'A start parameter set, signal payload or result exceeds the payload size limit (default 256 KB). Send a reference instead.',
  },
  WF_VARIABLE_TOO_LARGE: {
    retryable: false,
    summary:
      'A variable (or all variables together) would exceed its size limit (default 64 KB each, 512 KB total). Keep large data outside the instance.',
  },
  WF_STEP_TIMEOUT: {
    retryable: true,
    summary: 'A step did not finish within its timeoutMs. It is retried or caught as the step declares.',
  },
  WF_WORKFLOW_TIMEOUT: {
    retryable: false,
    summary: 'The instance ran longer than the workflow timeoutMs and was aborted (the onAbort procedure ran).',
  },
  WF_EXPRESSION_FAILED: {
    retryable: false,
    summary: 'An expression failed, timed out or nested too deep while the step ran; `details` has the JSONata code.',
  },
  WF_NO_CHOICE_MATCHED: {
    retryable: false,
    summary: 'No rule of a choice step matched and it has no default. Add a default or fix the rules.',
  },
  WF_RESOURCE_TIMEOUT: {
    retryable: true,
    summary: 'A required resource (unit) was not granted within the timeout; another instance holds it.',
  },
  WF_DEADLINE_MISSED: {
    retryable: false,
    summary: 'A wait was due while the engine was off and its onLate policy is fail.',
  },
  WF_APPROVAL_REJECTED: { retryable: false, summary: 'An approver rejected the approval step.' },
  WF_CHILD_FAILED: { retryable: false, summary: 'A sub-workflow ended failed, aborted, stopped or cancelled.' },
  WF_PHASE_FAILED: { retryable: false, summary: 'The unit reported the phase as Aborted or Stopped.' },
  WF_IN_DOUBT_FAILED: {
    retryable: false,
    summary: 'An in-doubt device write was resolved as failed (operator decision or read-back mismatch).',
  },
  WF_INTERLOCK_BREACHED: {
    retryable: false,
    summary: 'An interlock stopped holding; the instance was held or aborted to its safe state as declared.',
  },
  WF_ABORTED: { retryable: false, summary: 'The instance was aborted by an operator; the onAbort procedure ran.' },
  WF_ACTION_FAILED: {
    retryable: false,
    summary: 'A dispatch handler threw an error without a code; `cause` has it. Give handler errors a code.',
  },
  WF_NO_HANDLER: {
    retryable: false,
    summary: 'No dispatch handler is registered for this action kind. Register one with the runner.',
  },
  WF_STORE_FAILED: {
    retryable: true,
    summary: 'The engine could not commit to its SQLite database (disk full, I/O error). Check the data volume.',
  },
  WF_RUNNER_CLOSED: {
    retryable: true,
    summary: 'The runner is closing or closed; the request was not accepted. Retry after the module restarts.',
  },
  WF_REPLAY_MISMATCH: {
    retryable: false,
    summary:
      'Replaying the journal did not reproduce the stored state: the definition or engine changed under a running instance. Report it with the instance id.',
  },
} as const satisfies ErrorCatalog;

export type EngineErrorCode = keyof typeof errorCatalog;

/** Errors raised by the engine. */
export class EngineError extends TaktError<EngineErrorCode> {
  constructor(code: EngineErrorCode, message: string, options: TaktErrorOptions = {}) {
    super(code, message, errorCatalog[code].retryable, options);
    this.name = 'EngineError';
  }
}
