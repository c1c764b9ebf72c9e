import type { StatusEvent } from './contracts.js';

type StatusVariable = NonNullable<StatusEvent['variables']>[string];

/** DTDL model ids (deployment/dtdl/*.json). */
export const MODEL_IDS = {
  site: 'dtmi:takt:Site;1',
  line: 'dtmi:takt:Line;1',
  unit: 'dtmi:takt:Unit;1',
  workflow: 'dtmi:takt:Workflow;1',
  run: 'dtmi:takt:WorkflowRun;1',
} as const;

/** A twin the event needs to exist, with the properties it is created with. */
export interface TwinSpec {
  id: string;
  model: string;
  initial: Record<string, unknown>;
}

export interface RelationshipSpec {
  sourceId: string;
  relationshipId: string;
  name: string;
  targetId: string;
}

/** Twin ids may not contain `/ \ ? #` or spaces; anything outside [A-Za-z0-9._:-] becomes `_`. */
export function twinId(kind: string, ...parts: readonly string[]): string {
  return [kind, ...parts].map((p) => p.replace(/[^A-Za-z0-9._:-]/g, '_')).join('-');
}

export function runTwinId(instanceId: string): string {
  return twinId('run', instanceId);
}

/** The twins and relationships a status event implies (site ⊃ line ⊃ unit; workflow → run → unit/line). */
export function structureFor(event: StatusEvent): { twins: TwinSpec[]; relationships: RelationshipSpec[] } {
  const twins: TwinSpec[] = [];
  const relationships: RelationshipSpec[] = [];
  const rel = (sourceId: string, name: string, targetId: string): void => {
    relationships.push({ sourceId, name, targetId, relationshipId: `${name}-${targetId}` });
  };
  const site = event.site;
  const siteId = site === undefined ? undefined : twinId('site', site);
  if (siteId && site !== undefined) twins.push({ id: siteId, model: MODEL_IDS.site, initial: { name: site } });
  const lineId = event.line === undefined ? undefined : twinId('line', site ?? '_', event.line);
  if (lineId && event.line !== undefined) {
    twins.push({ id: lineId, model: MODEL_IDS.line, initial: { name: event.line } });
    if (siteId) rel(siteId, 'contains', lineId);
  }
  const unitId = event.unit === undefined ? undefined : twinId('unit', site ?? '_', event.line ?? '_', event.unit);
  if (unitId && event.unit !== undefined) {
    twins.push({ id: unitId, model: MODEL_IDS.unit, initial: { name: event.unit } });
    if (lineId) rel(lineId, 'contains', unitId);
  }
  const workflowId = twinId('workflow', event.workflowId);
  twins.push({ id: workflowId, model: MODEL_IDS.workflow, initial: { workflowId: event.workflowId } });
  const runId = runTwinId(event.instanceId);
  twins.push({
    id: runId,
    model: MODEL_IDS.run,
    initial: { instanceId: event.instanceId, workflowId: event.workflowId, seq: 0 },
  });
  rel(workflowId, 'hasRun', runId);
  const placeId = unitId ?? lineId;
  if (placeId) rel(runId, 'runsOn', placeId);
  return { twins, relationships };
}

const ENDED = new Set(['instance.completed', 'instance.failed']);

/** Property values (absolute, so replaying them is harmless) each twin takes from one event. */
export function propertiesFor(event: StatusEvent): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  const run: Record<string, unknown> = {
    state: event.state,
    workflowVersion: event.workflowVersion,
    lastEventType: event.type,
    lastEventAt: event.at,
    seq: event.seq,
  };
  if (event.step !== undefined) run['currentStep'] = event.step;
  if (event.type === 'instance.started') run['startedAt'] = event.at;
  if (ENDED.has(event.type)) run['endedAt'] = event.at;
  if (event.severity !== undefined) run['severity'] = event.severity;
  if (event.variables !== undefined) {
    run['variables'] = Object.fromEntries(Object.entries(event.variables).map(([k, v]) => [k, variableText(v)]));
  }
  out.set(runTwinId(event.instanceId), run);
  out.set(twinId('workflow', event.workflowId), { lastRunId: event.instanceId, lastRunState: event.state });
  if (event.unit !== undefined) {
    const unitId = twinId('unit', event.site ?? '_', event.line ?? '_', event.unit);
    out.set(unitId, {
      currentRunId: ENDED.has(event.type) ? '' : event.instanceId,
      runState: event.state,
      updatedAt: event.at,
    });
  }
  return out;
}

/** The run twin's `variables` map holds strings: scalars as text, a small object or array as JSON. */
function variableText(value: StatusVariable): string {
  if (value === null) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}
