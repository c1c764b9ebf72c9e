/**
 * Phase steps on PackML units (ISA-TR88.00.02) through the opcua-connector. A unit is a workflow
 * resource whose `address` is the unit's node (e.g. `nsu=urn:takt:opcua-plant;s=TankA`); its state is
 * `<address>.State` (PackML state name) and its commands are methods `<address>.<Command>`.
 *
 * `phase.start`: the unit must be Idle (or already acting, after a restart of this module); the phase
 * parameters are written to `<address>.<name>`, the state node is watched, then `Start` is called.
 * The phase ends when the unit reports `Complete` (or `Stopped`/`Aborted`, which the engine turns into
 * `WF_PHASE_FAILED`) after it was seen acting, so a `Complete` left over from an earlier batch does
 * not end a new phase.
 */
import { createHash } from 'node:crypto';
import { type Logger, errorMessage } from '@takt/edge-kit';
import type { Json, JsonObject } from '@takt/workflow';
import { DeviceError } from '../domain/device-errors.js';
import type { ConnectorClient } from '../edge/connector.js';

const ENDED = new Set(['Complete', 'Stopped', 'Aborted']);
const IDLE = 'Idle';
/** The engine's verbs (and `commands` overrides) → PackML methods. */
const METHODS: Record<string, string> = {
  hold: 'Hold',
  restart: 'Unhold',
  stop: 'Stop',
  abort: 'Abort',
  suspend: 'Suspend',
  unsuspend: 'Unsuspend',
};

export interface PhaseUnit {
  address: string;
  endpointUrl?: string;
}

interface ActivePhase {
  instanceId: string;
  commandId: string;
  seenActing: boolean;
}

export interface PhaseDriverOptions {
  connector: ConnectorClient;
  logger: Logger;
  /** Reports a unit state to the engine (`runner.phaseState`). */
  report: (instanceId: string, commandId: string, state: string) => Promise<void>;
}

export class PhaseDriver {
  private readonly active = new Map<string, ActivePhase>();
  private readonly log: Logger;

  constructor(private readonly options: PhaseDriverOptions) {
    this.log = options.logger.child({ component: 'phases' });
  }

  async start(
    unit: PhaseUnit,
    phase: { instanceId: string; commandId: string; name: string; parameters: JsonObject },
  ): Promise<Json> {
    const { connector } = this.options;
    const endpoint = unit.endpointUrl === undefined ? {} : { endpointUrl: unit.endpointUrl };
    const stateNode = `${unit.address}.State`;
    const current = this.stateOf(await connector.read({ ...endpoint, nodeId: stateNode }));
    const resumed = current !== IDLE && !ENDED.has(current);
    if (!resumed && current !== IDLE) {
      throw new DeviceError(
        'DEVICE_METHOD_FAILED',
        `unit ${unit.address} is ${current}, not Idle: reset it before the phase starts`,
        { nodeId: stateNode, state: current },
      );
    }
    this.track(unit, phase.instanceId, phase.commandId, resumed);
    if (!resumed) {
      for (const [name, value] of Object.entries(phase.parameters)) {
        await connector.write({ ...endpoint, nodeId: `${unit.address}.${name}`, value });
      }
    }
    await this.watch(unit);
    if (!resumed) await connector.call({ ...endpoint, objectId: unit.address, methodId: `${unit.address}.Start` });
    return { unit: unit.address, phase: phase.name, started: true, ...(resumed ? { resumed: true } : {}) };
  }

  /** Sends a hold/restart/stop/abort (or mapped) command to the unit. */
  async command(unit: PhaseUnit, command: string): Promise<Json> {
    const method = METHODS[command] ?? command.charAt(0).toUpperCase() + command.slice(1);
    await this.options.connector.call({
      ...(unit.endpointUrl === undefined ? {} : { endpointUrl: unit.endpointUrl }),
      objectId: unit.address,
      methodId: `${unit.address}.${method}`,
    });
    return { unit: unit.address, command: method };
  }

  /** Re-registers a started phase after a restart of this module (its state events go to the engine again). */
  resume(unit: PhaseUnit, instanceId: string, commandId: string): void {
    this.track(unit, instanceId, commandId, true);
    this.watch(unit).catch((error: unknown) =>
      this.log.warn('could not watch a unit state', { unit: unit.address, error: errorMessage(error) }),
    );
  }

  /** A `tags` message: true when it was a unit state this driver follows. */
  onTag(message: { endpointUrl?: string; nodeId: string; value: unknown }): boolean {
    const key = this.key(message.nodeId);
    const phase = this.active.get(key);
    if (phase === undefined) return false;
    const state = typeof message.value === 'string' ? message.value : String(message.value);
    if (!ENDED.has(state) && state !== IDLE) phase.seenActing = true;
    if (state === 'Held' || (ENDED.has(state) && phase.seenActing)) {
      if (ENDED.has(state)) this.active.delete(key);
      this.options.report(phase.instanceId, phase.commandId, state).catch((error: unknown) => {
        this.log.warn('unit state not applied', { instanceId: phase.instanceId, state, error: errorMessage(error) });
      });
    }
    return true;
  }

  private track(unit: PhaseUnit, instanceId: string, commandId: string, seenActing: boolean): void {
    this.active.set(this.key(`${unit.address}.State`), { instanceId, commandId, seenActing });
  }

  private watch(unit: PhaseUnit): Promise<unknown> {
    const nodeId = `${unit.address}.State`;
    return this.options.connector.watch({
      ...(unit.endpointUrl === undefined ? {} : { endpointUrl: unit.endpointUrl }),
      nodeId,
      watchId: `orchestrator-unit-${createHash('sha256').update(nodeId).digest('hex').slice(0, 16)}`,
    });
  }

  private key(nodeId: string): string {
    return nodeId;
  }

  private stateOf(answer: unknown): string {
    const value = (answer as { value?: unknown } | null)?.value;
    return typeof value === 'string' ? value : String(value);
  }
}
