/** A stable hash of a spec: sha256 of its canonical JSON (object keys sorted, no whitespace). */
import { createHash } from 'node:crypto';
import type { WorkerSpec } from '../types.js';

/**
 * The same value with object keys in sorted order at every level; parts already in order are
 * returned as they are (no copy), so a spec built in key order costs one walk.
 */
function sortedDeep(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v = sortedDeep(value[i]);
      if (v !== value[i]) (out ??= value.slice())[i] = v;
    }
    return out ?? value;
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  let changed = false;
  for (let i = 1; i < keys.length && !changed; i++) changed = keys[i - 1]! > keys[i]!;
  const children = keys.map((k) => {
    const v = sortedDeep(obj[k]);
    if (v !== obj[k]) changed = true;
    return v;
  });
  if (!changed) return obj;
  const order = keys
    .map((k, i) => [k, children[i]] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: Record<string, unknown> = {};
  for (const [k, v] of order) out[k] = v;
  return out;
}

/** JSON with object keys sorted at every level (undefined members dropped, as JSON does). */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortedDeep(value)) ?? 'null';
}

/** sha256 (hex) of the canonical JSON of a spec; equal specs hash equal whatever their key order. */
export function specHash(spec: WorkerSpec): string {
  return createHash('sha256').update(canonicalJson(spec)).digest('hex');
}
