/**
 * The orchestrator's commands on one live session: read, write (with coercion and read-back), call,
 * browse. Each function throws connector errors (bad statuses translated); the endpoint session
 * adds the timeout, the circuit breaker and the session wait around them.
 */
import type { ArgumentDefinition, DataValue, NodeId } from 'node-opcua-client';
import { valueToJson } from '../encoding/variant-json.js';
import { ConnectorError } from '../errors.js';
import { BUILTIN_TYPES, coerceValue, sameValue } from './coerce.js';
import type { LiveHandle } from './endpoint-session.js';
import type { NodeOpcuaClient } from './node-opcua.js';
import { errorForStatus, translateError } from './status.js';

export interface ReadValue {
  nodeId: string;
  value: unknown;
  dataType: string | undefined;
  statusCode: string;
  sourceTimestamp: string | undefined;
  serverTimestamp: string | undefined;
}

function iso(date: Date | null | undefined): string | undefined {
  return date ? date.toISOString() : undefined;
}

function toReadValue(nodeId: string, dataValue: DataValue): ReadValue {
  const dataType = dataValue.value?.dataType as number | undefined;
  return {
    nodeId,
    value: valueToJson(dataValue.value?.value, dataType),
    dataType: dataType === undefined ? undefined : BUILTIN_TYPES[dataType],
    statusCode: dataValue.statusCode.name,
    sourceTimestamp: iso(dataValue.sourceTimestamp),
    serverTimestamp: iso(dataValue.serverTimestamp),
  };
}

/** `ns=<i>;…` → `nsu=<uri>;…` so answers carry the stable form. */
export function toStableNodeId(nodeId: NodeId, namespaces: readonly string[]): string {
  const text = nodeId.toString();
  const match = /^ns=(\d+);(.+)$/.exec(text);
  if (!match) return text;
  const uri = namespaces[Number(match[1])];
  return uri === undefined ? text : `nsu=${uri};${match[2]}`;
}

export async function readValues(
  lib: NodeOpcuaClient,
  live: LiveHandle,
  nodeIds: readonly string[],
): Promise<(ReadValue | { nodeId: string; error: ConnectorError })[]> {
  const resolved = nodeIds.map((id) => live.resolveNodeId(id));
  const dataValues = await live.session.read(
    resolved.map((nodeId) => ({ nodeId, attributeId: lib.AttributeIds.Value })),
  );
  return dataValues.map((dv, i) => {
    const nodeId = nodeIds[i] as string;
    if (dv.statusCode.isNotGood() && (dv.statusCode.value & 0x80000000) !== 0) {
      return { nodeId, error: errorForStatus(dv.statusCode.name, `read ${nodeId}`, { nodeId }) };
    }
    return toReadValue(nodeId, dv);
  });
}

export interface WriteOutcome {
  ok: boolean;
  statusCode: string;
  dataType: string;
  before: unknown;
  after: unknown;
  readBack?: { value: unknown; statusCode: string; matches: boolean; sourceTimestamp: string | undefined };
}

/**
 * Writes a value: reads the node's data type, value rank and current value (the audit's `before`),
 * coerces the JSON value, writes, and (with `verify`) reads it back. A bad write status throws; the
 * thrown error carries `details.before` and `details.statusCode` for the audit record.
 */
export async function writeValue(
  lib: NodeOpcuaClient,
  live: LiveHandle,
  nodeIdText: string,
  value: unknown,
  verify: boolean,
  expectedType?: string,
): Promise<WriteOutcome> {
  const nodeId = live.resolveNodeId(nodeIdText);
  // One round trip for the value rank, the value before (for the audit) and the data type; a data type
  // that is not built in (a subtype, an enumeration) costs the walk up its supertypes.
  const [valueRankDv, beforeDv, dataTypeDv] = await live.session.read([
    { nodeId, attributeId: lib.AttributeIds.ValueRank },
    { nodeId, attributeId: lib.AttributeIds.Value },
    { nodeId, attributeId: lib.AttributeIds.DataType },
  ]);
  if (!valueRankDv || !beforeDv) throw new ConnectorError('OPCUA_BAD_STATUS', `read ${nodeIdText}: empty answer`);
  if (valueRankDv.statusCode.isNotGood()) {
    throw errorForStatus(valueRankDv.statusCode.name, `write ${nodeIdText}`, { nodeId: nodeIdText });
  }
  const declared =
    dataTypeDv?.statusCode.isGood() === true ? builtInOfArgument(dataTypeDv.value.value as NodeId | null) : undefined;
  const builtIn = declared ?? (await live.session.getBuiltInDataType(nodeId));
  const valueRank = Number(valueRankDv.value.value ?? -1);
  const before = beforeDv.statusCode.isGood() ? valueToJson(beforeDv.value.value, builtIn) : null;
  const coerced = coerceValue(value, builtIn, valueRank);
  const typeName = BUILTIN_TYPES[builtIn] ?? `type ${builtIn}`;
  if (expectedType !== undefined && expectedType !== typeName) {
    throw new ConnectorError(
      'OPCUA_TYPE_MISMATCH',
      `write ${nodeIdText}: the node is ${typeName}, not ${expectedType}`,
      {
        details: { nodeId: nodeIdText, expected: typeName, given: expectedType, before },
      },
    );
  }
  if (!coerced.ok) {
    throw new ConnectorError('OPCUA_TYPE_MISMATCH', `write ${nodeIdText}: ${coerced.problem}`, {
      details: { nodeId: nodeIdText, expected: typeName, valueRank, before },
    });
  }
  const isArray = Array.isArray(coerced.value) && builtIn !== 8 && builtIn !== 9 ? true : valueRank >= 1;
  const statusCode = await live.session.write({
    nodeId,
    attributeId: lib.AttributeIds.Value,
    value: {
      value: {
        dataType: builtIn,
        arrayType: isArray ? lib.VariantArrayType.Array : lib.VariantArrayType.Scalar,
        value: coerced.value,
      },
    },
  });
  if (statusCode.isNotGood()) {
    const error = errorForStatus(statusCode.name, `write ${nodeIdText}`, { nodeId: nodeIdText, before });
    throw error;
  }
  const after = valueToJson(coerced.value, builtIn);
  if (!verify) return { ok: true, statusCode: statusCode.name, dataType: typeName, before, after };
  const readBack = await live.session.read({ nodeId, attributeId: lib.AttributeIds.Value });
  const matches = readBack.statusCode.isGood() && sameValue(coerced.value, readBack.value.value, builtIn);
  return {
    ok: matches,
    statusCode: statusCode.name,
    dataType: typeName,
    before,
    after: valueToJson(readBack.value.value, builtIn),
    readBack: {
      value: valueToJson(readBack.value.value, builtIn),
      statusCode: readBack.statusCode.name,
      matches,
      sourceTimestamp: iso(readBack.sourceTimestamp),
    },
  };
}

export interface CallOutcome {
  ok: true;
  statusCode: string;
  outputArguments: { name: string | undefined; value: unknown; dataType: string | undefined }[];
}

function builtInOfArgument(dataType: NodeId | null | undefined): number | undefined {
  if (dataType === null || dataType === undefined) return undefined;
  return dataType.namespace === 0 && typeof dataType.value === 'number' && BUILTIN_TYPES[dataType.value] !== undefined
    ? dataType.value
    : undefined;
}

/** Calls a method; input arguments are coerced to the method's declared argument types. */
export async function callMethod(
  lib: NodeOpcuaClient,
  live: LiveHandle,
  objectIdText: string,
  methodIdText: string,
  inputs: readonly unknown[],
): Promise<CallOutcome> {
  const objectId = live.resolveNodeId(objectIdText);
  const methodId = live.resolveNodeId(methodIdText);
  let definition: ArgumentDefinition;
  try {
    definition = await live.session.getArgumentDefinition(methodId);
  } catch (error) {
    // The browse for the argument definitions does not throw for an unknown method (it finds no
    // arguments, and the call then answers BadMethodInvalid): a throw here is the session or the
    // transport — a dropped session during a plant restart must stay retryable.
    throw translateError(error, `call ${methodIdText}: reading its argument definitions`, {
      methodId: methodIdText,
    });
  }
  const declared = definition.inputArguments ?? [];
  if (declared.length !== inputs.length) {
    throw new ConnectorError(
      'OPCUA_TYPE_MISMATCH',
      `${methodIdText} takes ${declared.length} input argument(s), got ${inputs.length}`,
      {
        details: {
          methodId: methodIdText,
          expected: declared.map((a) => ({
            name: a.name,
            dataType: BUILTIN_TYPES[builtInOfArgument(a.dataType) ?? -1],
          })),
        },
      },
    );
  }
  const inputArguments = declared.map((argument, index) => {
    const builtIn = builtInOfArgument(argument.dataType);
    if (builtIn === undefined) {
      throw new ConnectorError(
        'OPCUA_TYPE_MISMATCH',
        `argument ${argument.name ?? index} of ${methodIdText} has a structured type the connector cannot encode`,
      );
    }
    const coerced = coerceValue(inputs[index], builtIn, argument.valueRank ?? -1);
    if (!coerced.ok) {
      throw new ConnectorError(
        'OPCUA_TYPE_MISMATCH',
        `argument ${argument.name ?? index} of ${methodIdText}: ${coerced.problem}`,
        { details: { methodId: methodIdText, argument: argument.name ?? index, expected: BUILTIN_TYPES[builtIn] } },
      );
    }
    return {
      dataType: builtIn,
      arrayType: (argument.valueRank ?? -1) >= 1 ? lib.VariantArrayType.Array : lib.VariantArrayType.Scalar,
      value: coerced.value,
    };
  });
  const result = await live.session.call({ objectId, methodId, inputArguments });
  if (result.statusCode.isNotGood()) {
    throw errorForStatus(result.statusCode.name, `call ${methodIdText}`, {
      objectId: objectIdText,
      methodId: methodIdText,
      ...(result.inputArgumentResults?.length
        ? { inputArgumentResults: result.inputArgumentResults.map((s) => s.name) }
        : {}),
    });
  }
  const outputs = definition.outputArguments ?? [];
  return {
    ok: true,
    statusCode: result.statusCode.name,
    outputArguments: (result.outputArguments ?? []).map((variant, i) => ({
      name: outputs[i]?.name ?? undefined,
      value: valueToJson(variant.value, variant.dataType as number),
      dataType: BUILTIN_TYPES[variant.dataType as number],
    })),
  };
}

export interface BrowseReference {
  nodeId: string;
  browseName: string;
  displayName: string | undefined;
  nodeClass: string;
  typeDefinition: string | undefined;
  isForward: boolean;
}

/** Browses the references of a node (hierarchical, forward by default), following continuation points. */
export async function browseNode(
  lib: NodeOpcuaClient,
  live: LiveHandle,
  nodeIdText: string,
  direction: 'Forward' | 'Inverse' | 'Both',
  maxReferences: number,
): Promise<{ references: BrowseReference[]; truncated: boolean }> {
  const nodeId = live.resolveNodeId(nodeIdText);
  let result = await live.session.browse({
    nodeId,
    browseDirection: lib.BrowseDirection[direction],
    referenceTypeId: 'HierarchicalReferences',
    includeSubtypes: true,
    nodeClassMask: 0,
    resultMask: 63,
  });
  if (result.statusCode.isNotGood()) {
    throw errorForStatus(result.statusCode.name, `browse ${nodeIdText}`, { nodeId: nodeIdText });
  }
  const references: BrowseReference[] = [];
  // bounded: at most 100 continuation rounds
  for (let round = 0; round < 100; round += 1) {
    for (const ref of result.references ?? []) {
      if (references.length >= maxReferences) break;
      references.push({
        nodeId: toStableNodeId(ref.nodeId, live.namespaces),
        browseName: ref.browseName.toString(),
        displayName: ref.displayName.text ?? undefined,
        nodeClass: lib.NodeClass[ref.nodeClass] ?? String(ref.nodeClass),
        typeDefinition: ref.typeDefinition ? toStableNodeId(ref.typeDefinition, live.namespaces) : undefined,
        isForward: ref.isForward,
      });
    }
    const continuation = result.continuationPoint;
    if (!continuation || continuation.length === 0 || references.length >= maxReferences) {
      if (continuation && continuation.length > 0) {
        await live.session.browseNext([continuation], true).catch(() => undefined);
        return { references, truncated: true };
      }
      return { references, truncated: false };
    }
    const [next] = await live.session.browseNext([continuation], false);
    if (!next) break;
    result = next;
  }
  return { references, truncated: true };
}
