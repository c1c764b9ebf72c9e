/**
 * Coded errors of the browser-safe language package. It cannot import @takt/edge-kit (Node-only), so
 * it keeps its own small class with the same shape (`code`, `retryable`, `cause`, `details`): guards
 * check `code`, never `instanceof`.
 */

export const errorCatalog = {
  WF_DEFINITION_INVALID: {
    retryable: false,
    summary:
      'The workflow definition has validation problems; `details.problems` lists each with a JSON pointer and a code. Fix them and deploy again; running instances are not affected.',
  },
  WF_EXPRESSION_INVALID: {
    retryable: false,
    summary:
      'A JSONata expression does not compile; `details.position` is the character offset inside the string. Fix the expression in the definition.',
  },
  WF_EXPRESSION_FAILED: {
    retryable: false,
    summary:
      'A JSONata expression raised an error while it was evaluated (wrong types, undefined function, failed $assert). `details.jsonataCode` is the JSONata code; check the data it read.',
  },
  WF_EXPRESSION_TIMEOUT: {
    retryable: false,
    summary:
      'A JSONata expression ran longer than its time limit (default 100 ms): probably an infinite recursion or a huge data set. Simplify the expression.',
  },
  WF_EXPRESSION_TOO_DEEP: {
    retryable: false,
    summary:
      'A JSONata expression exceeded its evaluation depth limit (default 200 nested evaluations), usually by unbounded recursion. Simplify the expression.',
  },
} as const;

export type WorkflowErrorCode = keyof typeof errorCatalog;

export interface WorkflowErrorOptions {
  cause?: unknown;
  details?: Readonly<Record<string, unknown>>;
}

/** Errors raised by @takt/workflow. */
export class WorkflowError extends Error {
  readonly code: WorkflowErrorCode;
  readonly retryable: boolean;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: WorkflowErrorCode, message: string, options: WorkflowErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WorkflowError';
    this.code = code;
    this.retryable = errorCatalog[code].retryable;
    this.details = options.details;
  }

  toJSON(): { code: string; message: string; retryable: boolean; details?: Readonly<Record<string, unknown>> } {
    return {
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      ...(this.details === undefined ? {} : { details: this.details }),
    };
  }
}
