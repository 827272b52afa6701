/**
 * Turns ajv's errors for one document into Findings a person can act on: one per problem, with a
 * message naming the field, the offending value and a hint (the field's schema description, or a
 * "did you mean").
 */
import type { ErrorObject } from 'ajv';
import { describeType, fieldLabel, joinPointer, shownValue, type Finding } from './finding.js';
import type { SchemaNode } from './schema.js';
import { closest } from './suggest.js';

/** Keywords whose error is about the value at instancePath itself; at most one is kept per value. */
const VALUE_KEYWORD_RANK: Record<string, number> = {
  oneOf: 0,
  type: 1,
  const: 2,
  enum: 2,
  minLength: 3,
  maxLength: 4,
  pattern: 5,
  format: 5,
  minimum: 6,
  maximum: 6,
  minItems: 6,
  maxItems: 6,
  uniqueItems: 7,
  maxProperties: 7,
};

/** Converts ajv errors (allErrors, verbose) for one document into findings, in document order. */
export function schemaFindings(errors: ErrorObject[]): Finding[] {
  const kept = collapseOneOf(errors).filter((e) => e.keyword !== 'if' && !isPropertyNameInner(e));
  const findings: Finding[] = [];
  const bestPerValue = new Map<string, { rank: number; index: number }>();
  for (const e of kept) {
    const f = toFinding(e);
    const rank = VALUE_KEYWORD_RANK[e.keyword];
    if (rank === undefined) {
      findings.push(f);
      continue;
    }
    const prev = bestPerValue.get(e.instancePath);
    if (prev === undefined) {
      bestPerValue.set(e.instancePath, { rank, index: findings.length });
      findings.push(f);
    } else if (rank < prev.rank) {
      findings[prev.index] = f;
      prev.rank = rank;
    }
  }
  return findings;
}

/** ajv reports a bad property name twice: the inner keyword (with propertyName) and propertyNames. */
function isPropertyNameInner(e: ErrorObject): boolean {
  return (e as ErrorObject & { propertyName?: string }).propertyName !== undefined;
}

/**
 * For a failed oneOf, keep only the branch that matches the value's type (its errors say what is
 * wrong inside it); when no branch matches, keep the oneOf error alone.
 */
function collapseOneOf(errors: ErrorObject[]): ErrorObject[] {
  const drop = new Set<ErrorObject>();
  for (const e of errors) {
    if (e.keyword !== 'oneOf') continue;
    const prefix = `${e.schemaPath}/`;
    const branches = new Map<string, ErrorObject[]>();
    for (const x of errors) {
      if (!x.schemaPath.startsWith(prefix) || !within(x.instancePath, e.instancePath)) continue;
      const idx = x.schemaPath.slice(prefix.length).split('/')[0]!;
      const list = branches.get(idx) ?? [];
      list.push(x);
      branches.set(idx, list);
    }
    const fitting = [...branches.values()].filter(
      (list) => !list.some((x) => x.instancePath === e.instancePath && x.keyword === 'type'),
    );
    if (fitting.length === 1) {
      drop.add(e);
      for (const list of branches.values()) if (list !== fitting[0]) for (const x of list) drop.add(x);
    } else {
      for (const list of branches.values()) for (const x of list) drop.add(x);
    }
  }
  return errors.filter((e) => !drop.has(e));
}

function within(path: string, parent: string): boolean {
  return path === parent || path.startsWith(`${parent}/`);
}

function descriptionOf(node: unknown): string | undefined {
  return node && typeof node === 'object' ? (node as SchemaNode).description : undefined;
}

function quote(v: unknown): string {
  return typeof v === 'string' ? `'${v}'` : JSON.stringify(v);
}

function toFinding(e: ErrorObject): Finding {
  const parent = e.parentSchema as SchemaNode | undefined;
  const p = e.instancePath;
  const label = fieldLabel(p);
  const base = { severity: 'error' as const, code: `schema.${kebab(e.keyword)}` };
  const params = e.params as Record<string, unknown>;
  const got = (): string => {
    const v = shownValue(p, e.data);
    return v === undefined ? describeType(e.data) : quote(v);
  };
  const withValue = (f: Omit<Finding, 'value'>): Finding => {
    const v = shownValue(p, e.data);
    return v === undefined ? f : { ...f, value: v };
  };
  switch (e.keyword) {
    case 'required': {
      const missing = String(params.missingProperty);
      const where = p === '' ? 'the document' : label;
      return {
        ...base,
        pointer: joinPointer(p, missing),
        at: p,
        target: 'key',
        message: `${where} is missing required field '${missing}'`,
        hint: descriptionOf(parent?.properties?.[missing]),
      };
    }
    case 'additionalProperties': {
      const extra = String(params.additionalProperty);
      const allowed = Object.keys(parent?.properties ?? {});
      const guess = closest(extra, allowed);
      let hint = guess ? `did you mean '${guess}'?` : `allowed fields here: ${allowed.join(', ')}`;
      if (/^pass(word)?$/i.test(extra) && allowed.includes('passwordFile')) {
        hint = 'a password is never written in a manifest: put it in a file and set passwordFile to its path';
      }
      return {
        ...base,
        code: 'schema.unknown-field',
        pointer: joinPointer(p, extra),
        target: 'key',
        message: `unknown field '${extra}' in ${p === '' ? 'the document' : label}`,
        hint,
      };
    }
    case 'propertyNames': {
      const key = String(params.propertyName);
      return {
        ...base,
        pointer: joinPointer(p, key),
        target: 'key',
        message: `${label} has an invalid key '${key}'`,
        hint: descriptionOf(parent),
      };
    }
    case 'oneOf': {
      const options = (parent?.oneOf ?? []).map((b) =>
        b.const !== undefined ? quote(b.const) : `${article(String(b.type))} ${typeWord(String(b.type))}`,
      );
      return withValue({
        ...base,
        code: 'schema.type',
        pointer: p,
        message: `${label} must be ${options.join(' or ')}, got ${describeType(e.data)}`,
        hint: descriptionOf(parent),
      });
    }
    case 'type': {
      const want = String(params.type);
      let hint = descriptionOf(parent);
      if (want === 'boolean' && typeof e.data === 'string') {
        hint = 'write true or false: in YAML 1.2, yes/no/on/off are strings';
      } else if (
        (want === 'integer' || want === 'number') &&
        typeof e.data === 'string' &&
        /^\s*-?\d/.test(e.data)
      ) {
        hint = `write the number without quotes; ${hint ?? ''}`.trim();
      }
      return withValue({
        ...base,
        pointer: p,
        message: `${label} must be ${article(want)} ${typeWord(want)}, got ${describeType(e.data)}`,
        hint,
      });
    }
    case 'const':
      return withValue({
        ...base,
        pointer: p,
        message: `${label} must be ${quote(params.allowedValue)}, got ${got()}`,
        hint: descriptionOf(parent),
      });
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map(String);
      const guess = typeof e.data === 'string' ? closest(e.data, allowed) : undefined;
      return withValue({
        ...base,
        pointer: p,
        message: `${label} must be one of ${allowed.join(', ')}; got ${got()}`,
        hint: guess ? `did you mean '${guess}'? (values are case-sensitive)` : descriptionOf(parent),
      });
    }
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return withValue({
        ...base,
        pointer: p,
        message: `${label} must be ${String(params.comparison)} ${String(params.limit)}, got ${got()}`,
        hint: descriptionOf(parent),
      });
    case 'minLength':
      return withValue({
        ...base,
        pointer: p,
        message:
          params.limit === 1
            ? `${label} must not be empty`
            : `${label} must have at least ${String(params.limit)} characters`,
        hint: descriptionOf(parent),
      });
    case 'maxLength':
      return withValue({
        ...base,
        pointer: p,
        message: `${label} is too long: ${String(e.data).length} characters, at most ${String(params.limit)}`,
        hint: descriptionOf(parent),
      });
    case 'pattern':
    case 'format':
      return withValue({
        ...base,
        code: 'schema.invalid-value',
        pointer: p,
        message: `${label} is not valid: ${got()}`,
        hint: descriptionOf(parent),
      });
    case 'minItems':
      return {
        ...base,
        pointer: p,
        message: `${label} must have at least ${String(params.limit)} item${params.limit === 1 ? '' : 's'}`,
        hint: descriptionOf(parent),
      };
    case 'maxItems':
      return {
        ...base,
        pointer: p,
        message: `${label} has ${(e.data as unknown[]).length} items, at most ${String(params.limit)}`,
        hint: descriptionOf(parent),
      };
    case 'uniqueItems': {
      const [first, again] = [Number(params.i), Number(params.j)].sort((a, b) => a - b);
      return {
        ...base,
        pointer: joinPointer(p, again!),
        message: `${label} repeats an item: [${first}] and [${again}] are equal`,
        hint: descriptionOf(parent),
      };
    }
    case 'maxProperties':
      return {
        ...base,
        pointer: p,
        message: `${label} has too many entries: at most ${String(params.limit)}`,
        hint: descriptionOf(parent),
      };
    default:
      return withValue({
        ...base,
        pointer: p,
        message: `${label} ${e.message ?? 'is invalid'}`,
        hint: descriptionOf(parent),
      });
  }
}

function article(type: string): string {
  return /^[aeiou]/.test(typeWord(type)) ? 'an' : 'a';
}

function typeWord(type: string): string {
  if (type === 'object') return 'mapping';
  if (type === 'array') return 'list';
  return type;
}

function kebab(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
