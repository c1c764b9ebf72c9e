/**
 * Maps the plant onto OPC UA nodes. Every node has a stable string NodeId in the plant namespace
 * (`nsu=urn:takt:opcua-plant;s=Reactor.Temperature`), numeric tags are AnalogItems with
 * EngineeringUnits and EURange, values are set with `setValueFromSource` only when the runtime
 * reports a change (event-driven, no getters: see NODE-OPCUA-W31 in the notes), and operator writes
 * are handed to the runtime, which accepts or reverts them.
 */
import type { Logger } from '@takt/edge-kit';
import type { MethodFunctorA, Namespace, UAMethod, UAObject, UAVariable } from 'node-opcua-address-space';
import type { OPCUAServer } from 'node-opcua-server';
import type { StatusCode } from 'node-opcua-status-code';
import type { Variant } from 'node-opcua-variant';
import { isCodedError } from '@takt/edge-kit';
import type { ResolvedTag } from '../layout/layout.js';
import { isModelFaultKind, isServerFaultKind } from '../model/faults.js';
import { PACKML_COMMANDS } from '../model/packml.js';
import type { CommandOutcome, WriteOutcome } from '../model/plant.js';
import {
  MAX_SPEED_FACTOR,
  MIN_SPEED_FACTOR,
  type PlantRuntime,
  type PublishedValue,
} from '../runtime/plant-runtime.js';
import type { ServerLibraries } from './node-opcua.js';
import { ENGINEERING_UNITS } from '../layout/units.js';

/** The plant namespace URI (also the server's applicationUri): use `nsu=` NodeIds with it. */
export const PLANT_NAMESPACE_URI = 'urn:takt:opcua-plant';

/** Server-level actions the Simulation methods trigger (carried out after the call has answered). */
export interface ServerActions {
  dropSessions(): void;
  restart(downtimeMs: number): void;
}

export interface BindOptions {
  server: OPCUAServer;
  runtime: PlantRuntime;
  libs: ServerLibraries;
  actions: ServerActions;
  logger: Logger;
}

type WriteHandler = (value: number | boolean) => StatusCode;

type MethodResult = {
  statusCode: StatusCode;
  outputArguments?: { dataType: number; value: unknown }[];
};

/** Builds the plant's nodes in the server's own namespace and keeps them in sync; returns the unbind function. */
export function bindPlantAddressSpace(options: BindOptions): () => void {
  const { server, runtime, libs, actions, logger } = options;
  const { DataType } = libs.variant;
  const { StatusCodes } = libs.statusCodes;
  const addressSpace = server.engine.addressSpace;
  if (addressSpace === null) throw new Error('the OPC UA server has no address space (not initialized)');
  const ns: Namespace = addressSpace.getOwnNamespace();
  const objectsFolder = addressSpace.rootFolder.objects;
  const layout = runtime.layout;
  const variables = new Map<string, { node: UAVariable; dataType: number }>();

  const dataTypeOf = (value: PublishedValue, declared?: ResolvedTag['dataType'] | 'Int32' | 'String'): number => {
    if (declared === 'UInt32') return DataType.UInt32;
    if (declared === 'Int32') return DataType.Int32;
    if (typeof value === 'boolean') return DataType.Boolean;
    if (typeof value === 'string') return DataType.String;
    return DataType.Double;
  };
  const initial = (path: string, fallback: PublishedValue): PublishedValue => runtime.values().get(path) ?? fallback;

  const euInformation = (unit: ResolvedTag['unit']) => {
    if (unit === undefined) return undefined;
    const info = ENGINEERING_UNITS[unit];
    return libs.dataAccess.makeEUInformation(info.code, unit, info.name);
  };

  /** A plain (non-analog) variable; `onWrite` makes it writable. */
  const addVariable = (
    parent: UAObject,
    path: string,
    browseName: string,
    value: PublishedValue,
    declared: ResolvedTag['dataType'] | 'Int32' | 'String' | undefined,
    description: string,
    onWrite?: WriteHandler,
  ): UAVariable => {
    const dataType = dataTypeOf(value, declared);
    const node = ns.addVariable({
      componentOf: parent,
      browseName,
      nodeId: `s=${path}`,
      description,
      dataType: DataType[dataType] as string,
      minimumSamplingInterval: 0,
      accessLevel: onWrite ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
      userAccessLevel: onWrite ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
      value: { dataType, value },
    });
    register(path, node, dataType, onWrite);
    return node;
  };

  /**
   * Writable nodes are bound to the runtime: the setter hands the value to the "PLC" and answers
   * with its verdict; afterwards the node is re-synced to what the PLC actually did (a stuck valve
   * accepts the command but does not move).
   */
  const register = (path: string, node: UAVariable, dataType: number, onWrite: WriteHandler | undefined): void => {
    variables.set(path, { node, dataType });
    if (!onWrite) return;
    node.bindVariable(
      {
        get: () => new libs.variant.Variant({ dataType, value: runtime.values().get(path) ?? null }),
        set: (variant: Variant) => {
          const written = variant.value as unknown;
          const status =
            typeof written === 'number' || typeof written === 'boolean'
              ? onWrite(written)
              : StatusCodes.BadTypeMismatch;
          setImmediate(() => set(path, runtime.values().get(path)));
          return status;
        },
      },
      true,
    );
  };

  const set = (path: string, value: PublishedValue | undefined): void => {
    const entry = variables.get(path);
    if (entry === undefined || value === undefined) return;
    entry.node.setValueFromSource({ dataType: entry.dataType, value });
  };

  const writeStatus = (outcome: WriteOutcome): StatusCode => {
    switch (outcome) {
      case 'accepted':
        return StatusCodes.Good;
      case 'notWritable':
        return StatusCodes.BadNotWritable;
      case 'outOfRange':
        return StatusCodes.BadOutOfRange;
      case 'typeMismatch':
        return StatusCodes.BadTypeMismatch;
    }
  };

  const writeToRuntime =
    (path: string): WriteHandler =>
    (value) =>
      writeStatus(runtime.write(path, value));

  const addTag = (parent: UAObject, tag: ResolvedTag): void => {
    const value = initial(tag.path, tag.initial);
    const onWrite = tag.writable ? writeToRuntime(tag.path) : undefined;
    if (tag.dataType === 'Boolean' || tag.range === undefined) {
      addVariable(parent, tag.path, tag.name, value, tag.dataType, tag.description, onWrite);
      return;
    }
    const dataType = tag.dataType === 'UInt32' ? DataType.UInt32 : DataType.Double;
    const engineeringUnits = euInformation(tag.unit);
    const node = ns.addAnalogDataItem({
      componentOf: parent,
      browseName: tag.name,
      nodeId: `s=${tag.path}`,
      description: tag.description,
      dataType: tag.dataType,
      minimumSamplingInterval: 0,
      accessLevel: onWrite ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
      userAccessLevel: onWrite ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
      engineeringUnitsRange: { low: tag.range[0], high: tag.range[1] },
      // writes outside the InstrumentRange are refused with BadOutOfRange by node-opcua itself
      ...(onWrite ? { instrumentRange: { low: tag.range[0], high: tag.range[1] } } : {}),
      ...(engineeringUnits === undefined ? {} : { engineeringUnits }),
      value: { dataType, value },
    });
    register(tag.path, node, dataType, onWrite);
  };

  let normalState: UAVariable | undefined;

  const addAlarm = (parent: UAObject, source: UAObject, path: string, name: string, description: string): void => {
    normalState ??= ns.addVariable({
      componentOf: parent,
      browseName: 'NormalState',
      nodeId: 's=Plant.Alarms.NormalState',
      description: 'The normal (inactive) value of every alarm input: false.',
      dataType: 'Boolean',
      value: { dataType: DataType.Boolean, value: false },
    });
    const input = addVariable(parent, path, name, initial(path, false), 'Boolean', description);
    ns.instantiateOffNormalAlarm({
      browseName: `${name}Alarm`,
      nodeId: `s=${path}.Condition`,
      conditionName: name,
      componentOf: parent,
      conditionSource: source,
      inputNode: input,
      normalState,
    });
  };

  const statusFor = (outcome: CommandOutcome) => {
    switch (outcome) {
      case 'accepted':
      case 'ignored':
        return StatusCodes.Good;
      case 'invalidState':
        return StatusCodes.BadInvalidState;
      case 'refused':
        return StatusCodes.BadDeviceFailure;
      case 'interlock':
        return StatusCodes.BadRequestNotAllowed;
    }
  };

  const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

  const addMethod = (
    parent: UAObject,
    path: string,
    browseName: string,
    description: string,
    inputArguments: { name: string; dataType: number; description: string }[],
    outputArguments: { name: string; dataType: number; description: string }[],
    run: (args: unknown[]) => Promise<MethodResult> | MethodResult,
  ): UAMethod => {
    const method = ns.addMethod(parent, {
      browseName,
      nodeId: `s=${path}`,
      description,
      inputArguments: inputArguments.map((a) => ({ ...a, description: { text: a.description } })),
      outputArguments: outputArguments.map((a) => ({ ...a, description: { text: a.description } })),
    });
    // node-opcua tells async functors from callback ones by their arity: keep two parameters
    const functor: MethodFunctorA = async (inputs, _context) => {
      try {
        return await run(inputs.map((v) => v.value as unknown));
      } catch (error) {
        logger.warn('method call failed', { method: path, error });
        const code = isCodedError(error) ? error.code : 'unknown';
        if (code === 'PLANT_FAULT_INVALID' || code === 'PLANT_CONFIG_INVALID')
          return { statusCode: StatusCodes.BadInvalidArgument };
        if (code === 'PLANT_FAULT_UNKNOWN') return { statusCode: StatusCodes.BadNotFound };
        return { statusCode: StatusCodes.BadInternalError };
      }
    };
    method.bindMethod(functor);
    return method;
  };

  // --- Plant
  const plant = ns.addObject({
    organizedBy: objectsFolder,
    browseName: 'Plant',
    nodeId: 's=Plant',
    description: `${layout.name}: ${layout.description}`,
    eventSourceOf: addressSpace.rootFolder.objects.server,
    eventNotifier: 1,
  });
  addVariable(plant, 'Plant.Layout', 'Layout', layout.name, 'String', 'Name of the loaded plant layout.');
  addVariable(
    plant,
    'Plant.EmergencyStop',
    'EmergencyStop',
    initial('Plant.EmergencyStop', false),
    'Boolean',
    'Emergency-stop input: write true to press (every unit aborts), false to release.',
    writeToRuntime('Plant.EmergencyStop'),
  );
  const plantAlarms = ns.addObject({ componentOf: plant, browseName: 'Alarms', nodeId: 's=Plant.Alarms' });
  addAlarm(plantAlarms, plant, 'Plant.Alarms.EmergencyStop', 'EmergencyStop', 'The emergency stop is pressed.');

  // --- Units
  for (const unit of layout.units) {
    const node = ns.addObject({
      componentOf: plant,
      browseName: unit.id,
      nodeId: `s=${unit.id}`,
      displayName: unit.displayName,
      description: `${unit.kind} ${unit.displayName}`,
      eventSourceOf: plant,
      eventNotifier: 1,
    });
    addVariable(
      node,
      `${unit.id}.State`,
      'State',
      initial(`${unit.id}.State`, 'Undefined'),
      'String',
      'PackML state name.',
    );
    addVariable(
      node,
      `${unit.id}.StateCurrent`,
      'StateCurrent',
      initial(`${unit.id}.StateCurrent`, 0),
      'Int32',
      'PackML state number (ISA-TR88.00.02 StateCurrent).',
    );
    for (const tag of unit.tags) addTag(node, tag);
    for (const command of PACKML_COMMANDS) {
      addMethod(node, `${unit.id}.${command}`, command, `PackML ${command} command.`, [], [], async () => {
        const slowMs = runtime.methodDelayMs(unit.id);
        if (slowMs > 0) await delay(slowMs);
        return { statusCode: statusFor(runtime.command(unit.id, command)) };
      });
    }
    if (unit.alarms.length > 0) {
      const alarms = ns.addObject({ componentOf: node, browseName: 'Alarms', nodeId: `s=${unit.id}.Alarms` });
      for (const alarm of unit.alarms) addAlarm(alarms, node, alarm.path, alarm.name, alarm.description);
    }
  }

  // --- Simulation (fault injection and diagnostics)
  const simulation = ns.addObject({
    organizedBy: objectsFolder,
    browseName: 'Simulation',
    nodeId: 's=Simulation',
    description: 'Simulator controls: speed, fault injection, diagnostics. Not part of a real PLC.',
  });
  addVariable(
    simulation,
    'Simulation.SimTimeS',
    'SimTimeS',
    initial('Simulation.SimTimeS', 0),
    'Double',
    'Simulated time since start (s).',
  );
  addVariable(
    simulation,
    'Simulation.ActiveFaults',
    'ActiveFaults',
    initial('Simulation.ActiveFaults', '[]'),
    'String',
    'JSON array of the active faults ({id, kind, target, value, sinceMs, held?}).',
  );
  addVariable(
    simulation,
    'Simulation.SpeedFactor',
    'SpeedFactor',
    initial('Simulation.SpeedFactor', runtime.speedFactor),
    'Double',
    `Simulated time per real time (${MIN_SPEED_FACTOR}..${MAX_SPEED_FACTOR}).`,
    (value) => {
      if (typeof value !== 'number') return StatusCodes.BadTypeMismatch;
      if (value < MIN_SPEED_FACTOR || value > MAX_SPEED_FACTOR) return StatusCodes.BadOutOfRange;
      runtime.speedFactor = value;
      return StatusCodes.Good;
    },
  );
  const diagnostics = ns.addVariable({
    componentOf: simulation,
    browseName: 'Diagnostics',
    nodeId: 's=Simulation.Diagnostics',
    description: 'JSON snapshot: states, values, counters, alarms and faults (read on demand).',
    dataType: 'String',
    minimumSamplingInterval: 1000,
  });
  diagnostics.bindVariable({
    get: () => new libs.variant.Variant({ dataType: DataType.String, value: JSON.stringify(runtime.snapshot()) }),
  });

  addMethod(
    simulation,
    'Simulation.InjectFault',
    'InjectFault',
    'Injects a fault: stuckValve, frozenSensor, noisySensor, drift, refuseCommands, slowMethod, dropSessions, restart.',
    [
      { name: 'Kind', dataType: DataType.String, description: 'Fault kind.' },
      { name: 'Target', dataType: DataType.String, description: 'Tag path (Unit.Tag), unit id or * (see README).' },
      { name: 'Value', dataType: DataType.Double, description: 'Kind-specific value; 0 = default.' },
    ],
    [
      {
        name: 'FaultId',
        dataType: DataType.String,
        description: 'Id of the active fault (empty for one-shot actions).',
      },
    ],
    ([kind, target, value]) => {
      const k = typeof kind === 'string' ? kind : '';
      const v = typeof value === 'number' ? value : 0;
      let faultId = '';
      if (isServerFaultKind(k)) {
        if (k === 'dropSessions') setTimeout(() => actions.dropSessions(), 20);
        else setTimeout(() => actions.restart(v > 0 ? v : 1000), 20);
        logger.warn('server fault scheduled', { kind: k, value: v });
      } else if (isModelFaultKind(k)) {
        faultId = runtime.injectFault({ kind: k, target: typeof target === 'string' ? target : '', value: v }).id;
      } else {
        return { statusCode: StatusCodes.BadInvalidArgument };
      }
      return { statusCode: StatusCodes.Good, outputArguments: [{ dataType: DataType.String, value: faultId }] };
    },
  );
  addMethod(
    simulation,
    'Simulation.ClearFault',
    'ClearFault',
    'Clears faults by id, by target, or all (*).',
    [{ name: 'FaultIdOrTarget', dataType: DataType.String, description: 'Fault id, target, or * for all.' }],
    [{ name: 'Cleared', dataType: DataType.UInt32, description: 'Number of faults cleared.' }],
    ([which]) => {
      const cleared = runtime.clearFault(typeof which === 'string' && which.length > 0 ? which : '*');
      return { statusCode: StatusCodes.Good, outputArguments: [{ dataType: DataType.UInt32, value: cleared.length }] };
    },
  );

  const unsubscribe = runtime.onChange((changes) => {
    for (const [path, value] of changes) set(path, value);
  });
  logger.info('address space bound', { variables: variables.size, units: layout.units.length });
  return unsubscribe;
}
