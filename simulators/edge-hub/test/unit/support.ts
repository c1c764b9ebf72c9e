export { type EdgeMessage, compileRoute, routeMessage } from '@takt/sim-edge-hub';

/** Guards check `code`, not `instanceof` (STYLE.md). */
export function isCodedErrorLike(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}
