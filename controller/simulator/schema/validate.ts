/**
 * Parameter verification as pve-common PVE/JSONSchema.pm validate/check_prop does it: unknown parameters refused, then per
 * parameter, in order, type (textual), format (named or property string), pattern (anchored), length,
 * minimum/maximum, enum; the first failure per parameter is reported with PVE's wording.
 */
import { checkNamedFormat } from './formats.js';
import type { PveMethodSchema, PveParam } from './pve-schema.js';

/** Index ranges of collapsed `key[n]` properties (qemu-server 9.x). */
const INDEX_LIMITS: Record<string, number> = {
  net: 31,
  ipconfig: 31,
  scsi: 30,
  virtio: 15,
  ide: 3,
  sata: 5,
  unused: 255,
  serial: 3,
  parallel: 2,
  usb: 13,
  hostpci: 15,
  numa: 7,
  virtiofs: 9,
  mp: 255,
  dev: 255,
  link: 7,
};

const regexCache = new Map<string, RegExp>();

/** Compiles a PVE (Perl) pattern anchored: (?^: -> (?:, (?^i: -> (?: with the i flag, (?> -> (?:. */
export function compilePattern(pattern: string): RegExp {
  let re = regexCache.get(pattern);
  if (!re) {
    const insensitive = pattern.includes('(?^i:');
    const src = pattern
      .replace(/\(\?\^i:/g, '(?:')
      .replace(/\(\?\^:/g, '(?:')
      .replace(/\(\?>/g, '(?:');
    re = new RegExp(`^(?:${src})$`, insensitive ? 'i' : '');
    regexCache.set(pattern, re);
  }
  return re;
}

/** Finds the schema of a (possibly indexed) parameter name. */
export function lookupProperty(props: Record<string, PveParam>, key: string): PveParam | undefined {
  const direct = props[key];
  if (direct) return direct;
  const m = /^([a-z]+)(\d+)$/.exec(key);
  if (!m) return undefined;
  const indexed = props[`${m[1]}[n]`];
  if (!indexed) return undefined;
  const max = INDEX_LIMITS[m[1]] ?? 31;
  return Number(m[2]) <= max && String(Number(m[2])) === m[2] ? indexed : undefined;
}

function num(v: number | string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : undefined;
}

/** Scalar to text as Perl would see it (JSON true/false become 1/0). */
function asText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  if (typeof v === 'boolean') return v ? '1' : '0';
  return undefined;
}

/** Checks one scalar value; returns the error text or undefined. */
export function checkValue(schema: PveParam, text: string, name = ''): string | undefined {
  const type = schema.type ?? 'string';
  if (type === 'boolean' && !/^(1|0)$/.test(text)) return `type check ('boolean') failed - got '${text}'`;
  if (type === 'integer' && !/^[+-]?\d+$/.test(text)) return `type check ('integer') failed - got '${text}'`;
  if (type === 'number' && !/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text))
    return `type check ('number') failed - got '${text}'`;
  if (schema.format !== undefined) {
    const err =
      typeof schema.format === 'string'
        ? checkNamedFormat(schema.format, text)
        : checkPropertyString(schema.format, text, name);
    if (err) return `invalid format - ${err}`;
  }
  if (schema.pattern !== undefined && !compilePattern(schema.pattern).test(text))
    return `value does not match the regex pattern`;
  if (type === 'string') {
    if (schema.maxLength !== undefined && text.length > schema.maxLength)
      return `value may only be ${schema.maxLength} characters long`;
    if (schema.minLength !== undefined && text.length < schema.minLength)
      return `value must be at least ${schema.minLength} characters long`;
  }
  if (type === 'integer' || type === 'number') {
    const n = Number(text);
    const min = num(schema.minimum);
    const max = num(schema.maximum);
    if (min !== undefined && n < min) return `value must have a minimum value of ${min}`;
    if (max !== undefined && n > max) return `value must have a maximum value of ${max}`;
  }
  if (schema.enum && !schema.enum.includes(text))
    return `value '${text}' does not have a value in the enumeration '${schema.enum.join(', ')}'`;
  return undefined;
}

/** Parses a property string into keys (aliases resolved); returns the map or an error text. */
export function parsePropertyString(
  format: Record<string, PveParam>,
  text: string,
): { values: Record<string, string> } | { error: string } {
  const values: Record<string, string> = {};
  const defaultKey = Object.keys(format).find((k) => format[k].default_key);
  for (const part of text.split(',')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    let key: string;
    let value: string;
    if (eq < 0) {
      if (!defaultKey) return { error: `value without key, but schema does not define a default key` };
      if (values[defaultKey] !== undefined)
        return { error: `duplicate key in comma-separated list property: ${defaultKey}` };
      key = defaultKey;
      value = part;
      // a bare alias-key (net: 'virtio') names the keyAlias target
      const spec = format[part];
      if (spec?.keyAlias) {
        values[spec.keyAlias] = part;
        continue;
      }
    } else {
      key = part.slice(0, eq);
      value = part.slice(eq + 1);
    }
    const spec = format[key];
    if (!spec)
      return {
        error: `${key}: property is not defined in schema and the schema does not allow additional properties`,
      };
    if (spec.keyAlias && spec.alias) {
      values[spec.keyAlias] = key;
      values[spec.alias] = value;
      continue;
    }
    if (spec.alias) key = spec.alias;
    if (values[key] !== undefined) return { error: `duplicate key in comma-separated list property: ${key}` };
    values[key] = value;
  }
  return { values };
}

/** Validates a property string against its format object; returns an error text or undefined. */
export function checkPropertyString(
  format: Record<string, PveParam>,
  text: string,
  name: string,
): string | undefined {
  const parsed = parsePropertyString(format, text);
  if ('error' in parsed) return `format error\n${name ? name + '.' : ''}${parsed.error}`;
  for (const [k, v] of Object.entries(parsed.values)) {
    const spec = format[k];
    if (!spec || spec.alias) continue;
    const err = checkValue(spec, v, `${name}.${k}`);
    if (err) return `format error\n${name ? name + '.' : ''}${k}: ${err}`;
  }
  for (const [k, spec] of Object.entries(format)) {
    if (spec.alias || spec.keyAlias || spec.optional || spec.default !== undefined) continue;
    if (parsed.values[k] === undefined)
      return `format error\n${name ? name + '.' : ''}${k}: property is missing and it is not optional`;
  }
  return undefined;
}

/** Result of verification: params normalised (integers/booleans as numbers, lists joined) and errors. */
export interface Verification {
  params: Record<string, unknown>;
  errors: Record<string, string>;
}

/** Verifies request parameters against a method schema. */
export function verifyParams(
  schema: PveMethodSchema | undefined,
  raw: Record<string, unknown>,
): Verification {
  const props = schema?.properties ?? {};
  const errors: Record<string, string> = {};
  const params: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (value === null || value === undefined) continue;
    const spec = lookupProperty(props, key);
    if (!spec) {
      if (schema?.additionalProperties === 0 || schema?.additionalProperties === undefined)
        errors[key] = 'property is not defined in schema and the schema does not allow additional properties';
      else params[key] = value;
      continue;
    }
    const type = spec.type ?? 'string';
    if (type === 'array') {
      const items = Array.isArray(value) ? value : [value];
      const out: string[] = [];
      for (const item of items) {
        const text = asText(item);
        const err =
          text === undefined
            ? `type check ('string') failed`
            : spec.items
              ? checkValue(spec.items, text, key)
              : undefined;
        if (err) {
          errors[key] = err;
          break;
        }
        out.push(text as string);
      }
      params[key] = out;
      continue;
    }
    let scalar: unknown = value;
    if (Array.isArray(value)) {
      if (typeof spec.format === 'string' && spec.format.endsWith('-list'))
        scalar = value.map((v) => asText(v) ?? '').join(',');
      else {
        errors[key] = `type check ('${type}') failed - got ARRAY`;
        continue;
      }
    }
    const text = asText(scalar);
    if (text === undefined) {
      errors[key] =
        `type check ('${type}') failed - got ${typeof scalar === 'object' ? 'HASH' : String(scalar)}`;
      continue;
    }
    const err = checkValue(spec, text, key);
    if (err) {
      errors[key] = err;
      continue;
    }
    params[key] = type === 'integer' || type === 'number' || type === 'boolean' ? Number(text) : text;
  }
  for (const [key, spec] of Object.entries(props)) {
    if (key.endsWith('[n]')) continue;
    if (!spec.optional && params[key] === undefined && errors[key] === undefined)
      errors[key] = 'property is missing and it is not optional';
    if (
      spec.requires &&
      params[key] !== undefined &&
      params[spec.requires] === undefined &&
      !errors[spec.requires]
    )
      errors[spec.requires] = `missing property required by '${key}'`;
  }
  return { params, errors };
}
