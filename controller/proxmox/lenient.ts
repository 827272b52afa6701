/**
 * Lenient readers for PVE's mixed output types: integers that arrive as strings (nextid, memory),
 * booleans as 0/1, "1"/"0" or true/false (the forms pve-common src/PVE/JSONSchema.pm
 * parse_boolean accepts).
 */

/** A number from a number or a numeric string; undefined otherwise. */
export function asNumber(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return undefined;
}

/** An integer from a number or an integer string; undefined otherwise. */
export function asInt(v: unknown): number | undefined {
  const n = asNumber(v);
  return n !== undefined && Number.isInteger(n) ? n : undefined;
}

/** A boolean from true/false, 1/0, "1"/"0", "true"/"false", "yes"/"no"; `fallback` otherwise. */
export function asBool(v: unknown, fallback = false): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (s === '1' || s === 'true' || s === 'yes' || s === 'on') return true;
    if (s === '0' || s === 'false' || s === 'no' || s === 'off' || s === '') return false;
  }
  return fallback;
}

/** A string from a string or number; undefined otherwise (and for ''). */
export function asString(v: unknown): string | undefined {
  if (typeof v === 'string') return v === '' ? undefined : v;
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  return undefined;
}

/** Any scalar as the string PVE would print (booleans as 1/0). */
export function scalarToString(v: unknown): string {
  if (typeof v === 'boolean') return v ? '1' : '0';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (v === null || v === undefined) return '';
  return JSON.stringify(v);
}

/** Tags as PVE normalises them: split on ; , or space, lower-cased, de-duplicated, sorted. */
export function splitTags(v: unknown): string[] {
  const s = asString(v);
  if (!s) return [];
  return [
    ...new Set(
      s
        .split(/[;,\s]+/)
        .map((t) => t.trim().toLowerCase())
        .filter(Boolean),
    ),
  ].sort();
}

/** A plain object or undefined. */
export function asRecord(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

/** An array or []. */
export function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
