/**
 * The SQL-ish subset of Service Bus subscription rules the emulator evaluates:
 * comparisons (`=`, `<>`, `!=`, `<`, `<=`, `>`, `>=`) between a property and a literal, `IN (…)`,
 * `NOT IN (…)`, `IS [NOT] NULL`, `EXISTS(prop)`, `AND`, `OR`, `NOT`, parentheses, `1=1`/`1=0`.
 * Properties are application properties by name (or `user.name`); `sys.MessageId`, `sys.Label`,
 * `sys.SessionId`, `sys.CorrelationId`, `sys.To`, `sys.ReplyTo`, `sys.ContentType` read the system ones.
 */

export type Scalar = string | number | boolean | null | undefined;

/** What a filter reads from a message. */
export interface FilterInput {
  applicationProperties: Readonly<Record<string, unknown>>;
  system: Readonly<Record<string, Scalar>>;
}

export type Filter = (message: FilterInput) => boolean;

type Token =
  | { kind: 'ident'; value: string }
  | { kind: 'string'; value: string }
  | { kind: 'number'; value: number }
  | { kind: 'op'; value: string }
  | { kind: 'punct'; value: '(' | ')' | ',' };

/** A rule that does not parse. */
export class FilterSyntaxError extends Error {}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] ?? '';
    if (/\s/.test(c)) {
      i += 1;
    } else if (c === "'") {
      let value = '';
      i += 1;
      for (;;) {
        if (i >= text.length) throw new FilterSyntaxError('unterminated string');
        if (text[i] === "'" && text[i + 1] === "'") {
          value += "'";
          i += 2;
        } else if (text[i] === "'") {
          i += 1;
          break;
        } else {
          value += text[i];
          i += 1;
        }
      }
      tokens.push({ kind: 'string', value });
    } else if (/[0-9]/.test(c) || (c === '-' && /[0-9]/.test(text[i + 1] ?? ''))) {
      const m = /^-?\d+(\.\d+)?/.exec(text.slice(i));
      tokens.push({ kind: 'number', value: Number(m?.[0]) });
      i += m?.[0].length ?? 1;
    } else if (/[A-Za-z_[]/.test(c)) {
      const m = /^(\[[^\]]+\]|[A-Za-z_][\w.]*)/.exec(text.slice(i));
      const raw = m?.[0] ?? c;
      tokens.push({ kind: 'ident', value: raw.startsWith('[') ? raw.slice(1, -1) : raw });
      i += raw.length;
    } else if (c === '(' || c === ')' || c === ',') {
      tokens.push({ kind: 'punct', value: c });
      i += 1;
    } else {
      const m = /^(<>|!=|<=|>=|=|<|>)/.exec(text.slice(i));
      if (!m) throw new FilterSyntaxError(`unexpected character ${c}`);
      tokens.push({ kind: 'op', value: m[0] });
      i += m[0].length;
    }
  }
  return tokens;
}

type Expr = (m: FilterInput) => Scalar;

const SYSTEM: Record<string, string> = {
  messageid: 'messageId',
  label: 'subject',
  sessionid: 'sessionId',
  correlationid: 'correlationId',
  to: 'to',
  replyto: 'replyTo',
  contenttype: 'contentType',
};

/** Compiles a rule; throws {@link FilterSyntaxError}. */
export function compileFilter(text: string): Filter {
  const tokens = tokenize(text);
  let pos = 0;
  const peek = (): Token | undefined => tokens[pos];
  const isWord = (word: string): boolean => {
    const t = peek();
    return t?.kind === 'ident' && t.value.toUpperCase() === word;
  };
  const expect = (kind: Token['kind'], value?: string): Token => {
    const t = tokens[pos];
    if (!t || t.kind !== kind || (value !== undefined && t.value !== value)) {
      throw new FilterSyntaxError(`expected ${value ?? kind} at token ${pos}`);
    }
    pos += 1;
    return t;
  };

  const operand = (): Expr => {
    const t = tokens[pos];
    pos += 1;
    if (!t) throw new FilterSyntaxError('unexpected end of rule');
    if (t.kind === 'string' || t.kind === 'number') return () => t.value;
    if (t.kind === 'ident') {
      const upper = t.value.toUpperCase();
      if (upper === 'TRUE') return () => true;
      if (upper === 'FALSE') return () => false;
      if (upper === 'NULL') return () => null;
      if (t.value.toLowerCase().startsWith('sys.')) {
        const key = SYSTEM[t.value.slice(4).toLowerCase()] ?? t.value.slice(4);
        return (m) => m.system[key];
      }
      const name = t.value.toLowerCase().startsWith('user.') ? t.value.slice(5) : t.value;
      return (m) => {
        const v = m.applicationProperties[name];
        return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? v : undefined;
      };
    }
    throw new FilterSyntaxError(`unexpected token ${String(t.value)}`);
  };

  const compare = (a: Scalar, op: string, b: Scalar): boolean => {
    if (a === undefined || a === null || b === undefined || b === null) return false;
    switch (op) {
      case '=':
        return a === b;
      case '<>':
      case '!=':
        return a !== b;
      case '<':
        return a < b;
      case '<=':
        return a <= b;
      case '>':
        return a > b;
      default:
        return a >= b;
    }
  };

  const predicate = (): Filter => {
    if (isWord('NOT')) {
      pos += 1;
      const inner = predicate();
      return (m) => !inner(m);
    }
    if (peek()?.kind === 'punct' && peek()?.value === '(') {
      pos += 1;
      const inner = disjunction();
      expect('punct', ')');
      return inner;
    }
    if (isWord('EXISTS')) {
      pos += 1;
      expect('punct', '(');
      const prop = operand();
      expect('punct', ')');
      return (m) => prop(m) !== undefined;
    }
    const left = operand();
    if (isWord('IS')) {
      pos += 1;
      const negate = isWord('NOT');
      if (negate) pos += 1;
      if (!isWord('NULL')) throw new FilterSyntaxError('expected NULL after IS');
      pos += 1;
      return (m) => (left(m) === undefined || left(m) === null) !== negate;
    }
    const negateIn = isWord('NOT');
    if (negateIn) pos += 1;
    if (isWord('IN')) {
      pos += 1;
      expect('punct', '(');
      const values: Expr[] = [operand()];
      while (peek()?.kind === 'punct' && peek()?.value === ',') {
        pos += 1;
        values.push(operand());
      }
      expect('punct', ')');
      return (m) => {
        const v = left(m);
        if (v === undefined || v === null) return false;
        return values.some((e) => e(m) === v) !== negateIn;
      };
    }
    const op = expect('op').value as string;
    const right = operand();
    return (m) => compare(left(m), op, right(m));
  };

  const conjunction = (): Filter => {
    const parts = [predicate()];
    while (isWord('AND')) {
      pos += 1;
      parts.push(predicate());
    }
    return (m) => parts.every((p) => p(m));
  };

  function disjunction(): Filter {
    const parts = [conjunction()];
    while (isWord('OR')) {
      pos += 1;
      parts.push(conjunction());
    }
    return (m) => parts.some((p) => p(m));
  }

  const filter = disjunction();
  if (pos !== tokens.length) throw new FilterSyntaxError(`unexpected token at ${pos}`);
  return filter;
}
