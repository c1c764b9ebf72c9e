/**
 * The orchestrator's coded errors (STYLE.md "Errors"). Engine errors (`WF_*`) pass through with their
 * own codes; connector errors are translated to the workflow runtime codes in `domain/device-errors.ts`.
 */
import { type ErrorCatalog, TaktError, type TaktErrorOptions } from '@takt/edge-kit';

export const errorCatalog = {
  ORCH_CONFIG_INVALID: {
    retryable: false,
    summary:
      'An environment variable or the `settings` desired property is malformed. The message names the field; fix it.',
  },
  ORCH_REQUEST_INVALID: {
    retryable: false,
    summary:
      'A direct-method payload, HTTP body or input message is malformed. `details.problems` lists each field and what is wrong; fix the request and send it again.',
  },
  ORCH_WORKFLOW_UNKNOWN: {
    retryable: false,
    summary:
      'No deployed workflow has this id (or it was deleted). Deploy it through the twin `workflows` property, or check the id with `listDefinitions`.',
  },
  ORCH_RECIPE_UNKNOWN: {
    retryable: false,
    summary: 'No recipe with this id is deployed. Add it to the twin `recipes` property or leave `recipe` out.',
  },
  ORCH_REFERENCE_FAILED: {
    retryable: true,
    summary:
      'A workflow definition by reference (`uri` + `sha256`) could not be fetched or verified. The ack names the cause (REFERENCE_FETCH_FAILED, REFERENCE_SHA256_MISMATCH); fix the uri or the hash, or deliver the definition inline.',
  },
  ORCH_EMERGENCY_STOP: {
    retryable: false,
    summary:
      'An emergency stop is active: new starts and restarts are refused. Make the plant safe, then call `reset` (engineer or admin).',
  },
  ORCH_TASK_NOT_FOUND: {
    retryable: false,
    summary: 'There is no open human task with this id (or the instance has none). List open tasks with `listTasks`.',
  },
  ORCH_AUTH_FAILED: {
    retryable: false,
    summary: 'The user name or password is wrong, or the session expired. Log in again.',
  },
  ORCH_FORBIDDEN: {
    retryable: false,
    summary: 'The user is authenticated but lacks the role this action needs (`details.needs`). Ask an admin.',
  },
  ORCH_SIGNATURE_INVALID: {
    retryable: false,
    summary:
      'An electronic signature needs the re-entered password, a meaning and a reason (21 CFR Part 11 §11.50, §11.200). Provide all three.',
  },
  ORCH_RATE_LIMITED: {
    retryable: true,
    summary: 'Too many failed logins from this client. Wait `details.retryInMs` and try again.',
  },
  ORCH_USER_EXISTS: {
    retryable: false,
    summary: 'A user with this name already exists. Pick another name or update the existing user.',
  },
  ORCH_CONNECTOR_FAILED: {
    retryable: true,
    summary:
      'The opcua-connector module did not answer or answered with an error that has no workflow code. Check that it runs and that the route/method names match.',
  },
  ORCH_INTERNAL: {
    retryable: true,
    summary: 'An unexpected failure inside the module; it is logged with details. Retry; report it if it repeats.',
  },
  ORCH_NOT_READY: {
    retryable: true,
    summary: 'The module is still starting (connecting to edgeHub, recovering the engine). Retry in a moment.',
  },
} as const satisfies ErrorCatalog;

export type OrchestratorErrorCode = keyof typeof errorCatalog;

export class OrchestratorError extends TaktError<OrchestratorErrorCode> {
  constructor(code: OrchestratorErrorCode, message: string, options: TaktErrorOptions = {}) {
    super(code, message, errorCatalog[code].retryable, options);
    this.name = 'OrchestratorError';
  }
}
