import { type ErrorCatalog, TaktError, type TaktErrorOptions } from '@takt/edge-kit';

/** The codes of the Azure service emulators. See docs/errors.md. */
export const errorCatalog = {
  AZURE_SIM_CONFIG_INVALID: {
    retryable: false,
    summary:
      'A command-line flag or emulator option is invalid; `details.problems` lists them. Fix the value (see simulators/azure/README.md) and start again.',
  },
  AZURE_SIM_START_FAILED: {
    retryable: false,
    summary:
      'An emulator could not listen (address in use, no permission to bind, certificate folder not writable). Pick another host/port or free the address.',
  },
} as const satisfies ErrorCatalog;

export type SimAzureErrorCode = keyof typeof errorCatalog;

/** The one error class of @takt/sim-azure. */
export class SimAzureError extends TaktError<SimAzureErrorCode> {
  constructor(code: SimAzureErrorCode, message: string, options: TaktErrorOptions = {}) {
    super(code, message, errorCatalog[code].retryable, options);
    this.name = 'SimAzureError';
  }
}
