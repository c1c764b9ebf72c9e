import { HttpError } from '../http-util.js';

type Twin = Record<string, unknown>;

/**
 * The query subset the emulator answers: `SELECT * FROM digitaltwins [alias] [WHERE c AND c …]` with
 * conditions `IS_OF_MODEL([alias,] 'dtmi:…')` and `[alias.]prop = literal` (`$dtId`,
 * `$metadata.$model` and nested properties with dots). Anything else is 400 `QueryNotSupported`.
 */
export function compileQuery(query: string): (twin: Twin) => boolean {
  const m = /^\s*SELECT\s+\*\s+FROM\s+digitaltwins(?:\s+([A-Za-z_]\w*))?(?:\s+WHERE\s+(.+?))?\s*$/is.exec(query);
  if (!m) throw new HttpError(400, 'QueryNotSupported', `the emulator only answers SELECT * FROM digitaltwins …`);
  const alias = m[1];
  const where = m[2];
  if (!where) return () => true;
  const conditions = where.split(/\s+AND\s+/i).map((c) => compileCondition(c.trim(), alias));
  return (twin) => conditions.every((c) => c(twin));
}

function compileCondition(text: string, alias: string | undefined): (twin: Twin) => boolean {
  const model = /^IS_OF_MODEL\s*\(\s*(?:[A-Za-z_]\w*\s*,\s*)?'([^']+)'\s*\)$/i.exec(text);
  if (model) {
    const id = model[1];
    return (twin) => (twin['$metadata'] as { $model?: string } | undefined)?.$model === id;
  }
  const eq = /^([\w$.]+)\s*=\s*('(?:[^']*)'|-?\d+(?:\.\d+)?|true|false)$/i.exec(text);
  if (!eq) throw new HttpError(400, 'QueryNotSupported', `condition not supported by the emulator: ${text}`);
  let path = (eq[1] ?? '').split('.');
  if (alias && path[0] === alias) path = path.slice(1);
  const rawValue = eq[2] ?? '';
  const value: unknown = rawValue.startsWith("'")
    ? rawValue.slice(1, -1)
    : rawValue.toLowerCase() === 'true'
      ? true
      : rawValue.toLowerCase() === 'false'
        ? false
        : Number(rawValue);
  return (twin) => {
    let current: unknown = twin;
    for (const part of path) {
      if (typeof current !== 'object' || current === null) return false;
      current = (current as Record<string, unknown>)[part];
    }
    return current === value;
  };
}
