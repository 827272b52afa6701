/** A problem found inside one document, before it is placed at file:line:col by the loader. */
import { isAbsolute, relative } from 'node:path';
import type { Severity } from '../types.js';

/** A located-later problem: the loader turns it into a Diagnostic using the document's YAML nodes. */
export interface Finding {
  /** JSON pointer of the problem inside the document. */
  pointer: string;
  /**
   * Where to point: the value at `at` (default `pointer`), or its key (`key`: unknown fields, and the
   * parent of a missing field).
   */
  target?: 'key' | 'value';
  /** Pointer of the node to point at when it differs from `pointer` (a missing field's parent). */
  at?: string;
  severity: Severity;
  code: string;
  message: string;
  hint?: string;
  value?: unknown;
}

/** 'spec.networks[0].vlan' for '/spec/networks/0/vlan'; 'the document' for ''. */
export function fieldLabel(pointer: string): string {
  if (pointer === '') return 'the document';
  let out = '';
  for (const seg of splitPointer(pointer)) {
    if (/^\d+$/.test(seg)) out += `[${seg}]`;
    else out += out === '' ? seg : `.${seg}`;
  }
  return out;
}

/** Segments of a JSON pointer, unescaped. */
export function splitPointer(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Appends one segment to a JSON pointer, escaped. */
export function joinPointer(pointer: string, segment: string | number): string {
  return `${pointer}/${String(segment).replace(/~/g, '~0').replace(/\//g, '~1')}`;
}

const SECRET_SEGMENT = /(password|secret|token)/i;

/**
 * The offending value as it may be shown: scalars only (strings cut at 80 characters), and never
 * anything under a key that names a secret.
 */
export function shownValue(pointer: string, value: unknown): unknown {
  if (SECRET_SEGMENT.test(pointer.replace(/passwordFile/g, ''))) return undefined;
  if (typeof value === 'string') return value.length > 80 ? `${value.slice(0, 77)}...` : value;
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return value;
  return undefined;
}

/** 'a string', 'an integer', 'a mapping' ... for messages. */
export function describeType(value: unknown): string {
  if (value === null) return 'null (an empty value)';
  if (Array.isArray(value)) return 'a list';
  switch (typeof value) {
    case 'string':
      return 'a string';
    case 'number':
      return Number.isInteger(value) ? 'an integer' : 'a number with a fraction';
    case 'boolean':
      return 'a boolean';
    case 'object':
      return 'a mapping';
    default:
      return typeof value;
  }
}

/** A path as shown to the user: relative to cwd when it is inside cwd, else as it is. */
export function displayPath(file: string, cwd = process.cwd()): string {
  const rel = relative(cwd, file);
  return rel === '' || rel.startsWith('..') || isAbsolute(rel) ? file : rel;
}
