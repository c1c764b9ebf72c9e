/**
 * The IoT Hub message routing query language, as far as IoT Edge evaluates it: system properties
 * (`$connectionModuleId`, `$contentType`, …), application properties by bare name, `$body.a.b[0].c`
 * (only for `application/json` + `utf-8` messages, as edgeHub), literals, comparison, arithmetic,
 * AND/OR/NOT with three-valued logic (undefined → the route does not match) and a few functions.
 * `$twin…` is refused: IoT Edge does not support twin conditions.
 */

export type QueryValue = string | number | boolean | null | undefined | QueryValue[] | { [key: string]: QueryValue };

/** What a condition reads from a message. */
export interface ConditionInput {
  systemProperty(name: string): string | undefined;
  applicationProperty(name: string): string | undefined;
  /** The parsed body, or undefined when the body is not queryable. */
  body(): QueryValue;
}

type Node =
  | { t: 'lit'; v: QueryValue }
  | { t: 'sys'; name: string }
  | { t: 'app'; name: string }
  | { t: 'body'; path: (string | number)[] }
  | { t: 'not'; e: Node }
  | { t: 'neg'; e: Node }
  | { t: 'bin'; op: string; l: Node; r: Node }
  | { t: 'fn'; name: string; args: Node[] };

/** A compiled WHERE condition. */
export interface Condition {
  readonly source: string;
  matches(input: ConditionInput): boolean;
}

type Tok = { k: 'num'; v: number } | { k: 'str'; v: string } | { k: 'id'; v: string } | { k: 'op'; v: string };

const MAX_CONDITION_CHARS = 4096;
const MAX_NESTING = 64;

function tokenize(text: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'" || c === '"') {
      let v = '';
      i++;
      for (;;) {
        if (i >= text.length) throw new Error('unterminated string literal');
        const d = text[i] as string;
        if (d === c) {
          if (text[i + 1] === c) {
            v += c;
            i += 2;
            continue;
          }
          i++;
          break;
        }
        v += d;
        i++;
      }
      out.push({ k: 'str', v });
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(text[i + 1] ?? ''))) {
      const m = /^(\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)/.exec(text.slice(i));
      if (!m) throw new Error(`bad number at ${i}`);
      out.push({ k: 'num', v: Number(m[1]) });
      i += (m[1] as string).length;
    } else if (/[A-Za-z_$]/.test(c)) {
      const m = /^[A-Za-z_$][A-Za-z0-9_$]*/.exec(text.slice(i));
      const v = (m as RegExpExecArray)[0];
      out.push({ k: 'id', v });
      i += v.length;
    } else {
      const two = text.slice(i, i + 2);
      if (['<=', '>=', '<>', '!='].includes(two)) {
        out.push({ k: 'op', v: two });
        i += 2;
      } else if ('=<>()+-*/%.[],'.includes(c)) {
        out.push({ k: 'op', v: c });
        i++;
      } else {
        throw new Error(`unexpected character '${c}' at ${i}`);
      }
    }
  }
  return out;
}

class Parser {
  #i = 0;
  #depth = 0;
  constructor(readonly toks: Tok[]) {}

  peek(): Tok | undefined {
    return this.toks[this.#i];
  }
  next(): Tok {
    const t = this.toks[this.#i++];
    if (t === undefined) throw new Error('unexpected end of condition');
    return t;
  }
  isKw(word: string): boolean {
    const t = this.peek();
    return t?.k === 'id' && t.v.toUpperCase() === word;
  }
  isOp(op: string): boolean {
    const t = this.peek();
    return t?.k === 'op' && t.v === op;
  }
  expectOp(op: string): void {
    const t = this.next();
    if (t.k !== 'op' || t.v !== op) throw new Error(`expected '${op}'`);
  }
  done(): boolean {
    return this.#i >= this.toks.length;
  }

  expr(): Node {
    if (++this.#depth > MAX_NESTING) throw new Error('condition nested too deeply');
    try {
      let l = this.and();
      while (this.isKw('OR')) {
        this.next();
        l = { t: 'bin', op: 'OR', l, r: this.and() };
      }
      return l;
    } finally {
      this.#depth--;
    }
  }
  and(): Node {
    let l = this.not();
    while (this.isKw('AND')) {
      this.next();
      l = { t: 'bin', op: 'AND', l, r: this.not() };
    }
    return l;
  }
  not(): Node {
    if (this.isKw('NOT')) {
      this.next();
      if (++this.#depth > MAX_NESTING) throw new Error('condition nested too deeply');
      try {
        return { t: 'not', e: this.not() };
      } finally {
        this.#depth--;
      }
    }
    return this.cmp();
  }
  cmp(): Node {
    const l = this.add();
    const t = this.peek();
    if (t?.k === 'op' && ['=', '!=', '<>', '<', '<=', '>', '>='].includes(t.v)) {
      this.next();
      return { t: 'bin', op: t.v === '<>' ? '!=' : t.v, l, r: this.add() };
    }
    return l;
  }
  add(): Node {
    let l = this.mul();
    while (this.isOp('+') || this.isOp('-')) {
      const op = (this.next() as { v: string }).v;
      l = { t: 'bin', op, l, r: this.mul() };
    }
    return l;
  }
  mul(): Node {
    let l = this.unary();
    while (this.isOp('*') || this.isOp('/') || this.isOp('%')) {
      const op = (this.next() as { v: string }).v;
      l = { t: 'bin', op, l, r: this.unary() };
    }
    return l;
  }
  unary(): Node {
    if (this.isOp('-')) {
      this.next();
      return { t: 'neg', e: this.unary() };
    }
    return this.primary();
  }
  primary(): Node {
    const t = this.next();
    if (t.k === 'num' || t.k === 'str') return { t: 'lit', v: t.v };
    if (t.k === 'op') {
      if (t.v !== '(') throw new Error(`unexpected '${t.v}'`);
      const e = this.expr();
      this.expectOp(')');
      return e;
    }
    const word = t.v;
    const upper = word.toUpperCase();
    if (upper === 'TRUE') return { t: 'lit', v: true };
    if (upper === 'FALSE') return { t: 'lit', v: false };
    if (upper === 'NULL') return { t: 'lit', v: null };
    if (this.isOp('(')) {
      this.next();
      const args: Node[] = [];
      if (!this.isOp(')')) {
        for (let n = 0; n < 16; n++) {
          args.push(this.expr());
          if (!this.isOp(',')) break;
          this.next();
        }
      }
      this.expectOp(')');
      if (!FUNCTIONS.has(upper)) throw new Error(`unknown function ${word}`);
      return { t: 'fn', name: upper, args };
    }
    if (word.toLowerCase() === '$body') return { t: 'body', path: this.path() };
    if (word.toLowerCase().startsWith('$twin')) throw new Error('$twin conditions are not supported by IoT Edge');
    if (word.startsWith('$')) {
      if (this.isOp('.') || this.isOp('[')) throw new Error(`system property ${word} has no members`);
      return { t: 'sys', name: word.slice(1) };
    }
    return { t: 'app', name: word };
  }
  path(): (string | number)[] {
    const path: (string | number)[] = [];
    for (let n = 0; n < 64; n++) {
      if (this.isOp('.')) {
        this.next();
        const id = this.next();
        if (id.k !== 'id') throw new Error('expected a property name after "."');
        path.push(id.v);
      } else if (this.isOp('[')) {
        this.next();
        const idx = this.next();
        if (idx.k === 'num' && Number.isInteger(idx.v)) path.push(idx.v);
        else if (idx.k === 'str') path.push(idx.v);
        else throw new Error('expected an index');
        this.expectOp(']');
      } else {
        break;
      }
    }
    if (path.length === 0) throw new Error('$body as a whole is not queryable');
    return path;
  }
}

const FUNCTIONS = new Set([
  'IS_DEFINED',
  'IS_STRING',
  'IS_NUMBER',
  'IS_BOOL',
  'IS_NULL',
  'IS_OBJECT',
  'IS_ARRAY',
  'LENGTH',
  'LOWER',
  'UPPER',
  'CONTAINS',
  'STARTS_WITH',
  'ENDS_WITH',
  'ABS',
]);

function compare(op: string, a: QueryValue, b: QueryValue): boolean | undefined {
  if (a === undefined || b === undefined) return undefined;
  let l = a;
  let r = b;
  // application properties are strings on the wire; compare them numerically against numbers
  if (typeof l === 'number' && typeof r === 'string' && r.trim() !== '' && Number.isFinite(Number(r))) r = Number(r);
  if (typeof r === 'number' && typeof l === 'string' && l.trim() !== '' && Number.isFinite(Number(l))) l = Number(l);
  if (op === '=' || op === '!=') {
    if (typeof l === 'object' || typeof r === 'object') {
      if (l === null && r === null) return op === '=';
      if (l === null || r === null) return op !== '=';
      return undefined;
    }
    if (typeof l !== typeof r) return undefined;
    return op === '=' ? l === r : l !== r;
  }
  if (typeof l === 'number' && typeof r === 'number') {
    return op === '<' ? l < r : op === '<=' ? l <= r : op === '>' ? l > r : l >= r;
  }
  if (typeof l === 'string' && typeof r === 'string') {
    return op === '<' ? l < r : op === '<=' ? l <= r : op === '>' ? l > r : l >= r;
  }
  return undefined;
}

function evaluate(node: Node, input: ConditionInput): QueryValue {
  switch (node.t) {
    case 'lit':
      return node.v;
    case 'sys':
      return input.systemProperty(node.name);
    case 'app':
      return input.applicationProperty(node.name);
    case 'body': {
      let v: QueryValue = input.body();
      for (const key of node.path) {
        if (v === null || v === undefined || typeof v !== 'object') return undefined;
        v = Array.isArray(v)
          ? typeof key === 'number'
            ? v[key]
            : undefined
          : typeof key === 'string'
            ? v[key]
            : undefined;
      }
      return v;
    }
    case 'not': {
      const v = evaluate(node.e, input);
      return typeof v === 'boolean' ? !v : undefined;
    }
    case 'neg': {
      const v = evaluate(node.e, input);
      return typeof v === 'number' ? -v : undefined;
    }
    case 'bin': {
      if (node.op === 'AND' || node.op === 'OR') {
        const l = evaluate(node.l, input);
        const r = evaluate(node.r, input);
        const lb = typeof l === 'boolean' ? l : undefined;
        const rb = typeof r === 'boolean' ? r : undefined;
        if (node.op === 'AND') {
          if (lb === false || rb === false) return false;
          return lb === true && rb === true ? true : undefined;
        }
        if (lb === true || rb === true) return true;
        return lb === false && rb === false ? false : undefined;
      }
      const l = evaluate(node.l, input);
      const r = evaluate(node.r, input);
      if (['=', '!=', '<', '<=', '>', '>='].includes(node.op)) return compare(node.op, l, r);
      if (node.op === '+' && typeof l === 'string' && typeof r === 'string') return l + r;
      if (typeof l !== 'number' || typeof r !== 'number') return undefined;
      switch (node.op) {
        case '+':
          return l + r;
        case '-':
          return l - r;
        case '*':
          return l * r;
        case '/':
          return r === 0 ? undefined : l / r;
        default:
          return r === 0 ? undefined : l % r;
      }
    }
    case 'fn': {
      const args = node.args.map((arg) => evaluate(arg, input));
      const [a, b] = args;
      switch (node.name) {
        case 'IS_DEFINED':
          return a !== undefined;
        case 'IS_STRING':
          return typeof a === 'string';
        case 'IS_NUMBER':
          return typeof a === 'number';
        case 'IS_BOOL':
          return typeof a === 'boolean';
        case 'IS_NULL':
          return a === null;
        case 'IS_OBJECT':
          return typeof a === 'object' && a !== null && !Array.isArray(a);
        case 'IS_ARRAY':
          return Array.isArray(a);
        case 'LENGTH':
          return typeof a === 'string' || Array.isArray(a) ? a.length : undefined;
        case 'LOWER':
          return typeof a === 'string' ? a.toLowerCase() : undefined;
        case 'UPPER':
          return typeof a === 'string' ? a.toUpperCase() : undefined;
        case 'ABS':
          return typeof a === 'number' ? Math.abs(a) : undefined;
        case 'CONTAINS':
          return typeof a === 'string' && typeof b === 'string' ? a.includes(b) : undefined;
        case 'STARTS_WITH':
          return typeof a === 'string' && typeof b === 'string' ? a.startsWith(b) : undefined;
        default:
          return typeof a === 'string' && typeof b === 'string' ? a.endsWith(b) : undefined;
      }
    }
  }
}

/** Compiles a WHERE condition; throws an Error with the reason when it does not parse. */
export function compileCondition(source: string): Condition {
  if (source.length > MAX_CONDITION_CHARS) throw new Error('condition too long');
  const parser = new Parser(tokenize(source));
  const ast = parser.expr();
  if (!parser.done()) throw new Error('unexpected text after the condition');
  return {
    source,
    matches: (input) => evaluate(ast, input) === true,
  };
}
