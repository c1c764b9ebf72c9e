import { EdgeHubError } from '../errors.js';
import type { ControlStatus, EnvMode, MethodResult, ModuleEnvironment, UpstreamMessage } from './control-types.js';

export interface ControlClientOptions {
  /** Per-request time limit. Default 10,000 ms. */
  timeoutMs?: number;
}

export interface RequestOptions {
  signal?: AbortSignal;
}

/**
 * Client of the emulator's control API (see `ControlServer`), for tests and the runner.
 *
 * @example
 * const control = new EdgeHubControlClient('http://127.0.0.1:41234');
 * await control.setOnline(false);
 * const { env } = await control.moduleEnv('orchestrator');
 */
export class EdgeHubControlClient {
  readonly #base: string;
  readonly #timeoutMs: number;

  constructor(baseUrl: string, options: ControlClientOptions = {}) {
    this.#base = baseUrl.replace(/\/+$/, '');
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  async #call<T>(method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    let response: Response;
    try {
      response = await fetch(`${this.#base}${path}`, {
        method,
        signal,
        ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } }),
      });
    } catch (error) {
      throw new EdgeHubError('CONTROL_REQUEST_FAILED', `control API ${method} ${path} failed`, { cause: error });
    }
    const text = await response.text();
    let parsed: unknown = undefined;
    if (text.length > 0) {
      try {
        parsed = JSON.parse(text) as unknown;
      } catch {
        parsed = text;
      }
    }
    if (!response.ok) {
      throw new EdgeHubError('CONTROL_REQUEST_FAILED', `control API ${method} ${path} answered ${response.status}`, {
        retryable: response.status >= 500,
        details: { status: response.status, body: parsed },
      });
    }
    return parsed as T;
  }

  status(options?: RequestOptions): Promise<ControlStatus> {
    return this.#call('GET', '/status', undefined, options);
  }

  /** Switches the cloud link: offline holds `$upstream` messages, online drains them in priority order. */
  async setOnline(online: boolean, options?: RequestOptions): Promise<void> {
    await this.#call('POST', online ? '/upstream/online' : '/upstream/offline', undefined, options);
  }

  /** Messages the local cloud received after sequence `after` (default: all). */
  async upstream(after = 0, limit = 1000, options?: RequestOptions): Promise<UpstreamMessage[]> {
    const result = await this.#call<{ messages: UpstreamMessage[] }>(
      'GET',
      `/upstream?after=${after}&limit=${limit}`,
      undefined,
      options,
    );
    return result.messages;
  }

  /** Closes every module connection; returns how many sockets were closed. */
  async dropConnections(options?: RequestOptions): Promise<number> {
    return (await this.#call<{ dropped: number }>('POST', '/connections/drop', undefined, options)).dropped;
  }

  /** Accept TCP but answer nothing, until {@link thaw}. */
  async freeze(options?: RequestOptions): Promise<void> {
    await this.#call('POST', '/freeze', undefined, options);
  }

  async thaw(options?: RequestOptions): Promise<void> {
    await this.#call('POST', '/thaw', undefined, options);
  }

  /** Runs the TTL cleanup now; returns how many expired messages were deleted. */
  async purgeExpired(options?: RequestOptions): Promise<number> {
    return (await this.#call<{ purged: number }>('POST', '/store/purge-expired', undefined, options)).purged;
  }

  async modules(options?: RequestOptions): Promise<string[]> {
    return (await this.#call<{ modules: string[] }>('GET', '/modules', undefined, options)).modules;
  }

  /** Creates a module identity (idempotent) and returns its connection-string environment. */
  createModule(moduleId: string, options?: RequestOptions): Promise<ModuleEnvironment> {
    return this.#call('PUT', `/modules/${encodeURIComponent(moduleId)}`, undefined, options);
  }

  /** Environment for a module process: `connection-string` (EdgeHubConnectionString) or `workload` (IOTEDGE_*). */
  moduleEnv(
    moduleId: string,
    mode: EnvMode = 'connection-string',
    options?: RequestOptions,
  ): Promise<ModuleEnvironment> {
    return this.#call('GET', `/modules/${encodeURIComponent(moduleId)}/env?mode=${mode}`, undefined, options);
  }

  twin(
    moduleId: string,
    options?: RequestOptions,
  ): Promise<{ desired: Record<string, unknown>; reported: Record<string, unknown> }> {
    return this.#call('GET', `/twins/${encodeURIComponent(moduleId)}`, undefined, options);
  }

  /** Patches desired properties (JSON merge patch) as a back end would; returns the new `$version`. */
  async patchDesired(moduleId: string, patch: Record<string, unknown>, options?: RequestOptions): Promise<number> {
    return (
      await this.#call<{ version: number }>('PATCH', `/twins/${encodeURIComponent(moduleId)}/desired`, patch, options)
    ).version;
  }

  /** Replaces the desired properties; returns the new `$version`. */
  async replaceDesired(moduleId: string, desired: Record<string, unknown>, options?: RequestOptions): Promise<number> {
    return (
      await this.#call<{ version: number }>('PUT', `/twins/${encodeURIComponent(moduleId)}/desired`, desired, options)
    ).version;
  }

  /** Invokes a module's direct method as IoT Hub would. */
  invokeMethod(
    moduleId: string,
    request: {
      methodName: string;
      payload?: unknown;
      responseTimeoutInSeconds?: number;
      connectTimeoutInSeconds?: number;
    },
    options?: RequestOptions,
  ): Promise<MethodResult> {
    return this.#call('POST', `/modules/${encodeURIComponent(moduleId)}/methods`, request, options);
  }
}
