/**
 * Commands to devices go to the opcua-connector module as module-to-module direct methods (`read`,
 * `write` with read-back, `call`, `watch`, `unwatch`). One circuit breaker per endpoint stops the
 * orchestrator from hammering a failed PLC: only "unreachable" failures count, a bad node id does not.
 */
import { CircuitBreaker, type Logger } from '@takt/edge-kit';
import { DeviceError, type DeviceOperation, toDeviceError } from '../domain/device-errors.js';

/** Calls a direct method of the connector (SupervisedModuleClient.invokeModuleMethod bound to it). */
export type InvokeConnector = (method: string, payload: unknown) => Promise<{ status: number; payload: unknown }>;

export interface ConnectorClientOptions {
  invoke: InvokeConnector;
  logger: Logger;
  failureThreshold?: number;
  openMs?: number;
  now?: () => number;
}

export interface ReadArgs {
  endpointUrl?: string;
  nodeId: string;
}

export interface WriteArgs extends ReadArgs {
  value: unknown;
  dataType?: string;
}

export interface CallArgs {
  endpointUrl?: string;
  objectId: string;
  methodId: string;
  inputArguments?: unknown[];
}

export interface WatchArgs {
  endpointUrl?: string;
  watchId: string;
  nodeId: string;
  samplingIntervalMs?: number;
  publishingIntervalMs?: number;
}

const DEFAULT_ENDPOINT = 'default';

export class ConnectorClient {
  private readonly breakers = new Map<string, CircuitBreaker>();
  private readonly log: Logger;

  constructor(private readonly options: ConnectorClientOptions) {
    this.log = options.logger.child({ component: 'connector' });
  }

  /** Reads one node; resolves with `{nodeId, value, dataType, statusCode, sourceTimestamp, serverTimestamp}`. */
  async read(args: ReadArgs): Promise<unknown> {
    const answer = await this.run('read', args.endpointUrl, args, { nodeId: args.nodeId });
    const values = (answer as { values?: unknown } | null)?.values;
    return Array.isArray(values) && values.length === 1 ? (values[0] as unknown) : answer;
  }

  /**
   * Writes with read-back (`verify`); a read-back that does not match is DEVICE_READBACK_MISMATCH.
   * `correlationId` and `actor` go into the connector's own audit record of the write.
   */
  async write(args: WriteArgs & { correlationId?: string; actor?: string }): Promise<unknown> {
    const answer = await this.run('write', args.endpointUrl, { ...args, verify: true }, { nodeId: args.nodeId });
    if ((answer as { ok?: unknown } | null)?.ok === false) {
      const where = {
        nodeId: args.nodeId,
        ...(args.endpointUrl === undefined ? {} : { endpointUrl: args.endpointUrl }),
      };
      throw new DeviceError(
        'DEVICE_READBACK_MISMATCH',
        `read-back of ${args.nodeId} does not match the written value`,
        {
          ...where,
          answer,
        },
      );
    }
    return answer;
  }

  async call(args: CallArgs): Promise<unknown> {
    const answer = await this.run('call', args.endpointUrl, args, { nodeId: args.methodId });
    if ((answer as { ok?: unknown } | null)?.ok === false) {
      throw new DeviceError('DEVICE_METHOD_FAILED', `method ${args.methodId} failed`, {
        nodeId: args.methodId,
        answer,
      });
    }
    return answer;
  }

  watch(args: WatchArgs): Promise<unknown> {
    return this.run('watch', args.endpointUrl, args, { nodeId: args.nodeId });
  }

  unwatch(watchId: string, endpointUrl?: string): Promise<unknown> {
    return this.run('unwatch', endpointUrl, { watchId, ...(endpointUrl === undefined ? {} : { endpointUrl }) }, {});
  }

  /** Breaker states by endpoint (for the reported health). */
  health(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [endpoint, breaker] of this.breakers) out[endpoint] = breaker.state;
    return out;
  }

  private breaker(endpointUrl: string | undefined): CircuitBreaker {
    const key = endpointUrl ?? DEFAULT_ENDPOINT;
    let breaker = this.breakers.get(key);
    if (breaker === undefined) {
      breaker = new CircuitBreaker({
        name: key,
        failureThreshold: this.options.failureThreshold ?? 5,
        openMs: this.options.openMs ?? 10_000,
        isFailure: (error) =>
          typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'DEVICE_UNREACHABLE',
        ...(this.options.now === undefined ? {} : { now: this.options.now }),
        onStateChange: (state, previous) =>
          this.log.warn('endpoint circuit changed', { endpoint: key, state, previous }),
      });
      this.breakers.set(key, breaker);
    }
    return breaker;
  }

  private async run(
    operation: DeviceOperation,
    endpointUrl: string | undefined,
    payload: unknown,
    context: { nodeId?: string },
  ): Promise<unknown> {
    const where = { ...(endpointUrl === undefined ? {} : { endpointUrl }), ...context };
    try {
      return await this.breaker(endpointUrl).execute(async () => {
        let answer: { status: number; payload: unknown };
        try {
          answer = await this.options.invoke(operation, payload);
        } catch (error) {
          throw toDeviceError(operation, { thrown: error }, where);
        }
        if (answer.status < 200 || answer.status >= 300) throw toDeviceError(operation, answer, where);
        return answer.payload;
      });
    } catch (error) {
      throw toDeviceError(operation, { thrown: error }, where);
    }
  }
}
