/**
 * Masks secrets in any text or structured value before it is logged, stored or printed
 * (invariant 5). Keys that name a secret are masked whole; values that look like a PVE token,
 * ticket, bearer token or password assignment are masked wherever they appear.
 */
export const MASK = '***';

const SECRET_KEY =
  /(password|passwd|secret|token|ticket|authorization|cookie|csrf|apikey|api_key|cipassword)/i;

const SECRET_PATTERNS: [RegExp, string][] = [
  // PVEAPIToken=user@realm!id=SECRET or PVEAPIToken user@realm!id=SECRET
  [/(PVEAPIToken[= ][^\s!]+![^\s=]+=)[^\s"',;&]+/g, `$1${MASK}`],
  // A bare token id with its secret: user@realm!id=uuid
  [/([\w.-]+@[\w.-]+![\w.-]+=)[0-9a-fA-F-]{8,}/g, `$1${MASK}`],
  [/(PVEAuthCookie=)[^\s;"']+/g, `$1${MASK}`],
  [/(PVE:[^:\s]+:[0-9A-F]{8}::)[A-Za-z0-9+/=]+/g, `$1${MASK}`],
  [/(Bearer\s+)[^\s"',;]+/gi, `$1${MASK}`],
  [
    /((?<![A-Za-z])(?:password|passwd|secret|token|cipassword)["']?\s*[:=]\s*["']?)(?!\*\*\*)[^\s"',;&]+/gi,
    `$1${MASK}`,
  ],
  // user:password@ in URLs (proxy credentials)
  [/(\/\/[^/\s:@]+:)[^@\s/]+@/g, `$1${MASK}@`],
];

/** Masks secrets inside a string. */
export function redactText(text: string): string {
  let out = text;
  for (const [re, repl] of SECRET_PATTERNS) out = out.replace(re, repl);
  return out;
}

/** Deep copy of a value with secrets masked. Handles cycles and Errors. */
export function redact<T>(value: T, seen = new WeakMap<object, unknown>()): T {
  if (typeof value === 'string') return redactText(value) as T;
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return seen.get(value) as T;
  if (value instanceof Error) {
    const copy: Record<string, unknown> = { name: value.name, message: redactText(value.message) };
    seen.set(value, copy);
    return copy as T;
  }
  if (Array.isArray(value)) {
    const arr: unknown[] = [];
    seen.set(value, arr);
    for (const v of value) arr.push(redact(v, seen));
    return arr as T;
  }
  const out: Record<string, unknown> = {};
  seen.set(value, out);
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEY.test(k) && v !== undefined && v !== null && v !== '' ? MASK : redact(v, seen);
  }
  return out as T;
}
