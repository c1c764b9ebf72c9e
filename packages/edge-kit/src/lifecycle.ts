import { EdgeKitError, errorMessage } from './errors.js';
import type { Logger } from './logger.js';
import { withTimeout } from './resilience/abort.js';

/** Something with a start and an idempotent close (a server, a sender, a client). */
export interface Component {
  readonly name: string;
  start?(signal: AbortSignal): Promise<void> | void;
  close(): Promise<void> | void;
}

/** Makes `close` idempotent: later calls return the first call's promise. */
export function onceClose(close: () => Promise<void> | void): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () => {
    closing ??= Promise.resolve().then(close);
    return closing;
  };
}

export interface LifecycleOptions {
  logger: Logger;
  /** Each component's close is raced against this. Default 5,000 ms. */
  closeTimeoutMs?: number;
}

/**
 * Starts components in order and closes them in reverse order, each close raced against a timeout so
 * one hung component cannot keep the module from exiting.
 */
export class Lifecycle {
  private readonly started: Component[] = [];
  private readonly closeTimeoutMs: number;
  private readonly controller = new AbortController();
  private closing: Promise<CloseReport> | undefined;

  constructor(private readonly options: LifecycleOptions) {
    this.closeTimeoutMs = options.closeTimeoutMs ?? 5_000;
  }

  /** Aborted when shutdown begins: pass it to long-running work. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Starts `component` and registers it for shutdown; returns it for chaining. */
  async add<C extends Component>(component: C): Promise<C> {
    if (this.controller.signal.aborted) {
      throw new EdgeKitError('OPERATION_ABORTED', `not starting ${component.name}: shutting down`);
    }
    this.started.push(component);
    await component.start?.(this.controller.signal);
    this.options.logger.debug('started', { component: component.name });
    return component;
  }

  /** Closes everything in reverse order; idempotent. */
  close(): Promise<CloseReport> {
    this.closing ??= this.closeAll();
    return this.closing;
  }

  private async closeAll(): Promise<CloseReport> {
    this.controller.abort(new EdgeKitError('OPERATION_ABORTED', 'module is shutting down'));
    const failed: string[] = [];
    for (const component of [...this.started].reverse()) {
      try {
        await withTimeout(`closing ${component.name}`, this.closeTimeoutMs, async () => {
          await component.close();
        });
      } catch (error) {
        failed.push(component.name);
        const timedOut = (error as { code?: string }).code === 'OPERATION_TIMEOUT';
        this.options.logger.error(timedOut ? 'component did not close in time' : 'component failed to close', {
          component: component.name,
          code: timedOut ? 'CLOSE_TIMEOUT' : undefined,
          error: errorMessage(error),
        });
      }
    }
    return { failed };
  }
}

export interface CloseReport {
  /** Components whose close failed or timed out. */
  failed: string[];
}

/** What `runMain` hands the module's setup function. */
export interface MainContext {
  readonly lifecycle: Lifecycle;
  readonly logger: Logger;
  /** Aborted when shutdown begins. */
  readonly signal: AbortSignal;
  /** Asks for shutdown with an exit code (e.g. 1 when the module became unhealthy). */
  shutdown(exitCode: number, reason: string): void;
}

export interface RunMainOptions {
  logger: Logger;
  closeTimeoutMs?: number;
  /** Hard deadline for the whole shutdown, after which the process exits anyway. Default 15,000 ms. */
  shutdownTimeoutMs?: number;
}

/**
 * The one place that touches `process`: runs `setup`, then waits for SIGTERM/SIGINT (or `shutdown()`),
 * closes every component in reverse order and exits with a code: 0 after a clean stop, 1 when setup
 * failed, a component failed to close, or the module asked to stop with an error. Uncaught errors are
 * logged and lead to an orderly shutdown with code 1 (IoT Edge restarts the module, `restartPolicy: always`).
 */
export function runMain(setup: (ctx: MainContext) => Promise<void>, options: RunMainOptions): void {
  const { logger } = options;
  const lifecycle = new Lifecycle({
    logger,
    ...(options.closeTimeoutMs ? { closeTimeoutMs: options.closeTimeoutMs } : {}),
  });
  let exitCode = 0;
  let stopping = false;
  const shutdown = (code: number, reason: string): void => {
    exitCode = Math.max(exitCode, code);
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { reason, exitCode });
    const hardStop = setTimeout(() => {
      logger.fatal('shutdown took too long; exiting', { timeoutMs: options.shutdownTimeoutMs ?? 15_000 });
      process.exit(exitCode || 1);
    }, options.shutdownTimeoutMs ?? 15_000);
    hardStop.unref();
    void lifecycle.close().then((report) => {
      if (report.failed.length > 0) exitCode = Math.max(exitCode, 1);
      logger.info('stopped', { exitCode });
      process.exit(exitCode);
    });
  };
  process.once('SIGTERM', () => shutdown(0, 'SIGTERM'));
  process.once('SIGINT', () => shutdown(0, 'SIGINT'));
  process.on('uncaughtException', (error) => {
    logger.fatal('uncaught exception', { error });
    shutdown(1, 'uncaught exception');
  });
  process.on('unhandledRejection', (error) => {
    logger.fatal('unhandled rejection', { error });
    shutdown(1, 'unhandled rejection');
  });
  // Keeps the process alive while components run on unref'd handles (a listener-only SDK client ends
  // silently otherwise: see notes/edgehub-protocol.md §6).
  const keepAlive = setInterval(() => undefined, 1 << 30);
  lifecycle.signal.addEventListener('abort', () => clearInterval(keepAlive), { once: true });
  setup({ lifecycle, logger, signal: lifecycle.signal, shutdown }).catch((error: unknown) => {
    logger.fatal('start-up failed', { error });
    shutdown(1, 'start-up failed');
  });
}
