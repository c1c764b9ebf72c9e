/**
 * The plant layout: which units exist, how they are linked, their tags' ranges and engineering units,
 * their parameters and initial values — data, so a second plant needs a JSON file, not code.
 * `parseLayout` validates a parsed JSON document and returns a frozen, fully defaulted layout.
 */
import { readFile } from 'node:fs/promises';
import { PlantError } from '../errors.js';
import {
  KIND_ALARMS,
  KIND_LINKS,
  KIND_PARAMETERS,
  KIND_TAGS,
  type TagDataType,
  type TagDefinition,
  type TagRole,
  UNIT_KINDS,
  type UnitKind,
} from './kinds.js';
import { type EngineeringUnit, isEngineeringUnit } from './units.js';

export interface ResolvedTag {
  /** `Unit.Tag`, also the string NodeId in the plant namespace. */
  readonly path: string;
  readonly unitId: string;
  readonly name: string;
  readonly dataType: TagDataType;
  readonly role: TagRole;
  readonly writable: boolean;
  readonly unit: EngineeringUnit | undefined;
  readonly range: readonly [number, number] | undefined;
  readonly decimals: number;
  readonly initial: number | boolean;
  readonly description: string;
}

export interface ResolvedAlarm {
  /** `Unit.Alarms.Name` */
  readonly path: string;
  readonly name: string;
  readonly description: string;
}

export interface ResolvedUnit {
  readonly id: string;
  readonly kind: UnitKind;
  readonly displayName: string;
  readonly parameters: Readonly<Record<string, number>>;
  readonly links: Readonly<Record<string, string>>;
  readonly tags: readonly ResolvedTag[];
  readonly alarms: readonly ResolvedAlarm[];
}

export interface ResolvedLayout {
  readonly name: string;
  readonly description: string;
  /** Simulated seconds each PackML acting state (Starting, Completing, …) takes. */
  readonly actingTimeS: number;
  /** PackML state every unit starts in (Idle or Stopped). */
  readonly initialState: 'Idle' | 'Stopped';
  readonly units: readonly ResolvedUnit[];
}

const ID = /^[A-Za-z][A-Za-z0-9_]{0,31}$/;
const RESERVED_IDS = new Set(['Plant', 'Simulation', 'Server']);

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Validates a layout document (already parsed from JSON). Throws `PLANT_LAYOUT_INVALID` with every problem. */
export function parseLayout(doc: unknown): ResolvedLayout {
  const problems: string[] = [];
  if (!isObject(doc)) throw invalid(['$: must be an object']);
  const name = typeof doc['name'] === 'string' && doc['name'].length > 0 ? doc['name'] : undefined;
  if (name === undefined) problems.push('$.name: must be a non-empty string');
  const description = typeof doc['description'] === 'string' ? doc['description'] : '';
  const actingTimeS = doc['actingTimeS'] ?? 2;
  if (typeof actingTimeS !== 'number' || !(actingTimeS > 0) || actingTimeS > 3600) {
    problems.push('$.actingTimeS: must be a number in (0, 3600]');
  }
  const initialState = doc['initialState'] ?? 'Idle';
  if (initialState !== 'Idle' && initialState !== 'Stopped')
    problems.push('$.initialState: must be "Idle" or "Stopped"');
  const rawUnits = doc['units'];
  if (!Array.isArray(rawUnits) || rawUnits.length === 0 || rawUnits.length > 100) {
    problems.push('$.units: must be an array of 1 to 100 units');
    throw invalid(problems);
  }
  const kinds = new Map<string, UnitKind>();
  rawUnits.forEach((raw, index) => {
    if (isObject(raw) && typeof raw['id'] === 'string' && typeof raw['kind'] === 'string') {
      if (kinds.has(raw['id'])) problems.push(`$.units[${index}].id: duplicate id "${raw['id']}"`);
      if ((UNIT_KINDS as readonly string[]).includes(raw['kind'])) kinds.set(raw['id'], raw['kind'] as UnitKind);
    }
  });
  const units = rawUnits.map((raw, index) => parseUnit(raw, `$.units[${index}]`, kinds, problems));
  if (problems.length > 0) throw invalid(problems);
  return deepFreeze({
    name: name ?? '',
    description,
    actingTimeS: actingTimeS as number,
    initialState: initialState as 'Idle' | 'Stopped',
    units: units.filter((unit): unit is ResolvedUnit => unit !== undefined),
  });
}

function parseUnit(
  raw: unknown,
  at: string,
  kinds: Map<string, UnitKind>,
  problems: string[],
): ResolvedUnit | undefined {
  if (!isObject(raw)) {
    problems.push(`${at}: must be an object`);
    return undefined;
  }
  const id = raw['id'];
  if (typeof id !== 'string' || !ID.test(id) || RESERVED_IDS.has(id)) {
    problems.push(`${at}.id: must match ${ID.source} and not be Plant, Simulation or Server`);
    return undefined;
  }
  const kind = raw['kind'];
  if (typeof kind !== 'string' || !(UNIT_KINDS as readonly string[]).includes(kind)) {
    problems.push(`${at}.kind: must be one of ${UNIT_KINDS.join(', ')}`);
    return undefined;
  }
  const unitKind = kind as UnitKind;
  const displayName = typeof raw['displayName'] === 'string' ? raw['displayName'] : id;
  checkKeys(raw, ['id', 'kind', 'displayName', 'parameters', 'links', 'tags', 'initial'], at, problems);

  const parameters: Record<string, number> = { ...KIND_PARAMETERS[unitKind] };
  const rawParameters = raw['parameters'] ?? {};
  if (!isObject(rawParameters)) problems.push(`${at}.parameters: must be an object`);
  else {
    for (const [key, value] of Object.entries(rawParameters)) {
      if (!Object.hasOwn(parameters, key))
        problems.push(`${at}.parameters.${key}: unknown parameter for kind ${unitKind}`);
      else if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
        problems.push(`${at}.parameters.${key}: must be a finite number >= 0`);
      } else parameters[key] = value;
    }
  }

  const linkSpec: Readonly<Record<string, { kind: UnitKind; required: boolean }>> = KIND_LINKS[unitKind];
  const links: Record<string, string> = {};
  const rawLinks = raw['links'] ?? {};
  if (!isObject(rawLinks)) problems.push(`${at}.links: must be an object`);
  else {
    for (const [key, value] of Object.entries(rawLinks)) {
      const spec = linkSpec[key];
      if (spec === undefined) problems.push(`${at}.links.${key}: unknown link for kind ${unitKind}`);
      else if (typeof value !== 'string' || kinds.get(value) !== spec.kind) {
        problems.push(`${at}.links.${key}: must name a unit of kind ${spec.kind}`);
      } else links[key] = value;
    }
    for (const [key, spec] of Object.entries(linkSpec)) {
      if (spec.required && links[key] === undefined && rawLinks[key] === undefined) {
        problems.push(`${at}.links.${key}: required (a unit of kind ${spec.kind})`);
      }
    }
  }

  const definitions: Readonly<Record<string, TagDefinition>> = KIND_TAGS[unitKind];
  const rawTags = raw['tags'] ?? {};
  const rawInitial = raw['initial'] ?? {};
  if (!isObject(rawTags)) problems.push(`${at}.tags: must be an object`);
  if (!isObject(rawInitial)) problems.push(`${at}.initial: must be an object`);
  const tagOverrides = isObject(rawTags) ? rawTags : {};
  const initialOverrides = isObject(rawInitial) ? rawInitial : {};
  for (const key of [...Object.keys(tagOverrides), ...Object.keys(initialOverrides)]) {
    if (!Object.hasOwn(definitions, key)) problems.push(`${at}: unknown tag "${key}" for kind ${unitKind}`);
  }
  const capacity = parameters['capacityL'] ?? 0;
  const tags = Object.entries(definitions).map(([tagName, def]): ResolvedTag => {
    const override = tagOverrides[tagName];
    let range: readonly [number, number] | undefined =
      def.range === 'capacity' ? [0, capacity] : def.range === undefined ? undefined : [def.range[0], def.range[1]];
    let unit: EngineeringUnit | undefined = def.unit;
    let decimals = def.decimals ?? 0;
    const tagAt = `${at}.tags.${tagName}`;
    if (override !== undefined) {
      if (!isObject(override)) problems.push(`${tagAt}: must be an object`);
      else {
        checkKeys(override, ['range', 'unit', 'decimals'], tagAt, problems);
        const r = override['range'];
        if (r !== undefined) {
          if (
            !Array.isArray(r) ||
            r.length !== 2 ||
            typeof r[0] !== 'number' ||
            typeof r[1] !== 'number' ||
            !(r[0] < r[1]) ||
            def.dataType === 'Boolean'
          ) {
            problems.push(`${tagAt}.range: must be [low, high] with low < high (numeric tags only)`);
          } else range = [r[0], r[1]];
        }
        const u = override['unit'];
        if (u !== undefined) {
          if (typeof u !== 'string' || !isEngineeringUnit(u)) problems.push(`${tagAt}.unit: unknown engineering unit`);
          else unit = u;
        }
        const d = override['decimals'];
        if (d !== undefined) {
          if (typeof d !== 'number' || !Number.isInteger(d) || d < 0 || d > 9) problems.push(`${tagAt}.decimals: 0..9`);
          else decimals = d;
        }
      }
    }
    let initial: number | boolean = def.initial;
    const rawInit = initialOverrides[tagName];
    if (rawInit !== undefined) {
      const ok =
        def.dataType === 'Boolean'
          ? typeof rawInit === 'boolean'
          : typeof rawInit === 'number' && (range === undefined || (rawInit >= range[0] && rawInit <= range[1]));
      if (!ok) problems.push(`${at}.initial.${tagName}: must be a ${def.dataType} within the tag's range`);
      else initial = rawInit as number | boolean;
    }
    return {
      path: `${id}.${tagName}`,
      unitId: id,
      name: tagName,
      dataType: def.dataType,
      role: def.role,
      writable: def.role === 'setpoint' || def.role === 'input' || def.writable === true,
      unit,
      range,
      decimals,
      initial,
      description: def.description,
    };
  });
  const alarms = Object.entries(KIND_ALARMS[unitKind] as Readonly<Record<string, string>>).map(
    ([alarmName, text]): ResolvedAlarm => ({ path: `${id}.Alarms.${alarmName}`, name: alarmName, description: text }),
  );
  return { id, kind: unitKind, displayName, parameters, links, tags, alarms };
}

function checkKeys(obj: Json, allowed: readonly string[], at: string, problems: string[]): void {
  for (const key of Object.keys(obj)) if (!allowed.includes(key)) problems.push(`${at}.${key}: unknown property`);
}

function invalid(problems: string[]): PlantError {
  return new PlantError('PLANT_LAYOUT_INVALID', `plant layout invalid: ${problems.join('; ')}`, {
    details: { problems },
  });
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
}

/** Reads and validates a layout file. */
export async function loadLayout(file: string): Promise<ResolvedLayout> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new PlantError('PLANT_LAYOUT_INVALID', `cannot read the layout file ${file}`, {
      cause: error,
      details: { file, problems: ['file not readable'] },
    });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new PlantError('PLANT_LAYOUT_INVALID', `the layout file ${file} is not valid JSON`, {
      cause: error,
      details: { file, problems: ['not JSON'] },
    });
  }
  return parseLayout(doc);
}

/** The layout shipped with the simulator (`layouts/batch-plant.json`). */
export const DEFAULT_LAYOUT_FILE = new URL('../../layouts/batch-plant.json', import.meta.url).pathname;

/** Looks a tag up by `Unit.Tag`. */
export function findTag(layout: ResolvedLayout, path: string): ResolvedTag | undefined {
  for (const unit of layout.units) for (const tag of unit.tags) if (tag.path === path) return tag;
  return undefined;
}

export function findUnit(layout: ResolvedLayout, id: string): ResolvedUnit | undefined {
  return layout.units.find((unit) => unit.id === id);
}
