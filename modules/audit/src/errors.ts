import { type ErrorCatalog, TaktError, type TaktErrorOptions } from '@takt/edge-kit';

/** The codes of @takt/audit. See docs/errors.md. */
export const errorCatalog = {
  AUDIT_RECORD_INVALID: {
    retryable: false,
    summary:
      'An audit record does not match the record schema (or cannot be canonicalized, or is too large); `details.problems` lists what is wrong. From the `record` method it is refused and nothing is stored; from the `records` input it is parked in `audit_parked` with its reason. Fix the sender.',
  },
  AUDIT_CHAIN_BROKEN: {
    retryable: false,
    summary:
      'Chain verification found a record that does not match its hash, its predecessor, its MAC or its sequence number; `details.seq` is the first broken sequence number and `details.reason` says why. Treat the store as tampered with: keep the file, compare it with the records forwarded upstream.',
  },
  AUDIT_STORE_READONLY: {
    retryable: false,
    summary:
      'Audit records are append-only: the store refuses UPDATE and DELETE (SQLite triggers). Only pruning of forwarded records older than the retention, behind an anchor, may delete. Do not edit the audit database by hand.',
  },
  AUDIT_QUERY_INVALID: {
    retryable: false,
    summary:
      'A `query`, `verifyChain` or `exportBatch` request has bad parameters (unknown field, reversed range, bad time); `details.problems` lists them. Fix the request.',
  },
  AUDIT_STORE_FAILED: {
    retryable: true,
    summary:
      'The audit database could not commit (disk full, I/O error). Nothing was acknowledged; the sender may retry. Check the data volume.',
  },
  AUDIT_MAC_KEY_INVALID: {
    retryable: false,
    summary:
      'TAKT_AUDIT_MAC_KEY is too short (at least 32 bytes), missing while the chain is MAC-protected, or not the key the chain was written with. Provide the original key from the secret store; the module does not start without it.',
  },
  AUDIT_NOT_FOUND: {
    retryable: false,
    summary:
      'The batch asked for has no audit records. Check the batch id (records carry it in `correlation.batchId`).',
  },
} as const satisfies ErrorCatalog;

export type AuditErrorCode = keyof typeof errorCatalog;

/** Errors raised by the audit module. */
export class AuditError extends TaktError<AuditErrorCode> {
  constructor(code: AuditErrorCode, message: string, options: TaktErrorOptions = {}) {
    super(code, message, errorCatalog[code].retryable, options);
    this.name = 'AuditError';
  }
}
