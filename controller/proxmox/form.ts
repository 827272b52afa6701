/**
 * Request encoding for PVE (as pve-http-server src/PVE/APIServer/AnyEvent.pm reads it):
 * x-www-form-urlencoded bodies and query strings, booleans
 * as 1/0, arrays as repeated keys, and `sshkeys` strictly percent-encoded before the form encoding
 * (so a space travels as %2520 and never as '+').
 */

/** A parameter value we send; undefined and null are left out. */
export type ParamValue = string | number | boolean | readonly (string | number)[] | undefined | null;
export type Params = Record<string, ParamValue>;

/** Keys whose value PVE wants in its `urlencoded` format. */
const URLENCODED_KEYS = new Set(['sshkeys']);

/** The PVE `urlencoded` format: encodeURIComponent yields exactly its allowed set. */
export function encodeSshKeys(keys: string): string {
  return encodeURIComponent(keys);
}

/** Reverses encodeSshKeys leniently (a value that is not valid percent-encoding is kept as is). */
export function decodeSshKeys(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function one(key: string, v: string | number | boolean): string {
  if (typeof v === 'boolean') return v ? '1' : '0';
  const s = String(v);
  return URLENCODED_KEYS.has(key) ? encodeSshKeys(s) : s;
}

/** Params as URLSearchParams (also the form body: URLSearchParams.toString() is form encoding). */
export function toSearchParams(params: Params | undefined): URLSearchParams {
  const out = new URLSearchParams();
  if (!params) return out;
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null) continue;
    if (Array.isArray(value)) {
      for (const item of value as readonly (string | number)[]) out.append(key, one(key, item));
    } else {
      out.append(key, one(key, value as string | number | boolean));
    }
  }
  return out;
}

/** One path segment, percent-encoded (node names, UPIDs with ':' '@' '!'). */
export function seg(value: string | number): string {
  return encodeURIComponent(String(value));
}
