/**
 * Coded errors (STYLE.md "Errors"): one class per package with a closed set of codes, a `retryable`
 * flag and the original `cause`. Guards check `code`, never `instanceof`, so errors keep working
 * across package copies, worker threads and JSON.
 */

/** What a code means and what to do about it; rendered into docs/errors.md. */
export interface ErrorCodeInfo {
  readonly retryable: boolean;
  /** One or two sentences: what went wrong and what to do next. */
  readonly summary: string;
}

/** The closed set of codes one package can raise. Every package exports its own as `errorCatalog`. */
export type ErrorCatalog<C extends string = string> = Readonly<Record<C, ErrorCodeInfo>>;

export interface TaktErrorOptions {
  cause?: unknown;
  /** Overrides the catalog's default (e.g. a network error that is retryable only sometimes). */
  retryable?: boolean;
  /** Structured facts for logs and API answers (never secrets). */
  details?: Readonly<Record<string, unknown>>;
}

/** The JSON form of an error, as returned by direct methods and the HTTP API. */
export interface ErrorBody {
  code: string;
  message: string;
  retryable: boolean;
  details?: Readonly<Record<string, unknown>>;
}

/** Base class of every Takt error. Use a package's subclass, not this one, to raise. */
export class TaktError<C extends string = string> extends Error {
  readonly code: C;
  readonly retryable: boolean;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: C, message: string, retryable: boolean, options: TaktErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TaktError';
    this.code = code;
    this.retryable = options.retryable ?? retryable;
    this.details = options.details;
  }

  toJSON(): ErrorBody {
    return {
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      ...(this.details === undefined ? {} : { details: this.details }),
    };
  }
}

/** The shape every coded error has, whichever class made it. */
export interface CodedError {
  code: string;
  message: string;
  retryable: boolean;
}

/** True when `error` carries a string `code` and a boolean `retryable` (optionally: this `code`). */
export function isCodedError(error: unknown, code?: string): error is CodedError & Error {
  if (typeof error !== 'object' || error === null) return false;
  const candidate = error as Partial<CodedError>;
  if (typeof candidate.code !== 'string' || typeof candidate.retryable !== 'boolean') return false;
  return code === undefined || candidate.code === code;
}

/** True when `error` is coded and marked retryable. */
export function isRetryable(error: unknown): boolean {
  return isCodedError(error) && error.retryable;
}

/** A readable one-line message for any thrown value. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'string') return error;
  try {
    return JSON.stringify(error);
  } catch {
    return String(error);
  }
}

/** The codes of this package. See docs/errors.md. */
export const errorCatalog = {
  CONFIG_INVALID: {
    retryable: false,
    summary:
      'Environment variables or twin desired properties do not match the schema. The error lists every problem with its path; fix them and restart (environment) or send a corrected twin patch (the last good configuration stays in force).',
  },
  OPERATION_ABORTED: {
    retryable: false,
    summary: 'The operation was cancelled through its AbortSignal, usually because the module is shutting down.',
  },
  OPERATION_TIMEOUT: {
    retryable: true,
    summary: 'An operation did not finish within its time limit. It may be retried; check the peer it was waiting for.',
  },
  RETRY_EXHAUSTED: {
    retryable: false,
    summary:
      'Every attempt of a retried operation failed; `cause` holds the last error. Check the dependency named in the message.',
  },
  CIRCUIT_OPEN: {
    retryable: true,
    summary:
      'Calls to a failing dependency are paused by its circuit breaker. They resume after the open period if a probe succeeds; see `details.retryInMs`.',
  },
  CLOSE_TIMEOUT: {
    retryable: false,
    summary:
      'A component did not close within its close timeout during shutdown; the process exits anyway. Look for a hung socket or an unfinished write in that component.',
  },
  STORE_OPEN_FAILED: {
    retryable: false,
    summary:
      'The SQLite database could not be opened (missing folder, permissions, or a corrupt file). Check the data volume mount and the file named in the message.',
  },
  STORE_MIGRATION_FAILED: {
    retryable: false,
    summary:
      'A schema migration failed and was rolled back; the database is unchanged. The database may come from a newer version of the module: do not downgrade a module over its data.',
  },
  MESSAGE_TOO_LARGE: {
    retryable: false,
    summary:
      'A message is larger than the limit of the channel it is meant for (256 KB for edgeHub messages, 128 KB for direct-method payloads). Split it or send a reference.',
  },
  TWIN_PATCH_INVALID: {
    retryable: false,
    summary:
      'A twin desired-properties document or patch is not a JSON object or has no numeric `$version`. It is ignored; the last good desired state stays in force.',
  },
  PROPERTY_INVALID: {
    retryable: false,
    summary:
      'A writable twin property was rejected by its validator; it is acknowledged with `ac: 400` and the reasons in `ad`. Correct the desired value.',
  },
  METHOD_NOT_FOUND: {
    retryable: false,
    summary: 'The direct method does not exist on this module. The module README lists the methods it offers.',
  },
  METHOD_PAYLOAD_INVALID: {
    retryable: false,
    summary:
      "A direct method's payload does not match the method's schema; `details.problems` lists what is wrong. Fix the request; nothing was changed.",
  },
  METHOD_HANDLER_FAILED: {
    retryable: false,
    summary:
      'A direct-method handler failed with an unexpected error (answered with status 500). The module log has the details; report it as a bug.',
  },
  NOT_CONNECTED: {
    retryable: true,
    summary:
      'The module is not connected to edgeHub right now. Messages stay in the durable outbox and are sent on reconnect; requests can be retried.',
  },
} as const satisfies ErrorCatalog;

export type EdgeKitErrorCode = keyof typeof errorCatalog;

/** Errors raised by the edge runtime kit. */
export class EdgeKitError extends TaktError<EdgeKitErrorCode> {
  constructor(code: EdgeKitErrorCode, message: string, options: TaktErrorOptions = {}) {
    super(code, message, errorCatalog[code].retryable, options);
    this.name = 'EdgeKitError';
  }
}
