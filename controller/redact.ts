/**
 * Masks secrets in any text or structured value before it is logged, stored or printed
 * (invariant 5). Keys that name a secret are masked whole; values that look like a PVE token,
 * ticket, bearer token or password assignment are masked wherever they appear.
 */
export const MASK = '***';

/** The words a key that holds a secret ends with (apiToken, CSRFPreventionToken, proxy_password). */
const SECRET_WORDS = new Set([
  'password',
  'passwd',
  'secret',
  'token',
  'ticket',
  'authorization',
  'cookie',
  'apikey',
  'cipassword',
  'csrfpreventiontoken',
]);

/**
 * True for a key that names a secret: its last word is a secret word (`apiToken`, `x-auth-token`,
 * `api_key`). A key that merely contains one (`passwordFile` is a path, `ticketQueue`, `tokens`)
 * holds no secret and is shown.
 */
export function isSecretKey(key: string): boolean {
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
  const last = words[words.length - 1];
  if (last === undefined) return false;
  return SECRET_WORDS.has(last) || (last === 'key' && words[words.length - 2] === 'api');
}

/** A value after `password=` that looks like a credential: 6+ characters, not one plain word. */
const CREDENTIAL_VALUE = String.raw`(?=[^\s"',;&]{6,})(?:(?=[^\s"',;&]*[^A-Za-z\s"',;&])|(?=[A-Za-z]{16,}))[^\s"',;&]+`;

const SECRET_PATTERNS: [RegExp, string][] = [
  // PVEAPIToken=user@realm!id=SECRET or PVEAPIToken user@realm!id=SECRET
  [/(PVEAPIToken[= ][^\s!]+![^\s=]+=)[^\s"',;&]+/g, `$1${MASK}`],
  // A bare token id with its secret: user@realm!id=uuid
  [/([\w.-]+@[\w.-]+![\w.-]+=)[0-9a-fA-F-]{8,}/g, `$1${MASK}`],
  [/(PVEAuthCookie=)[^\s;"']+/g, `$1${MASK}`],
  [/(PVE:[^:\s]+:[0-9A-F]{8}::)[A-Za-z0-9+/=]+/g, `$1${MASK}`],
  // "Bearer s3cr3t" is a credential; "the bearer token of" is prose.
  [new RegExp(String.raw`(Bearer\s+)` + CREDENTIAL_VALUE, 'gi'), `$1${MASK}`],
  // password=... in free text, as a last line of defence; "token: nightly" or "unexpected token: }" are words.
  [
    new RegExp(
      String.raw`((?<![A-Za-z])(?:password|passwd|secret|token|cipassword)["']?\s*[:=]\s*["']?)(?!\*\*\*)` +
        CREDENTIAL_VALUE,
      'gi',
    ),
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
    if (k === 'labels' && v !== null && typeof v === 'object' && !Array.isArray(v)) {
      // A worker's labels are the operator's own words (selection and display), never secrets by
      // design: a label named `token` or `secret` keeps its value; text inside is still checked.
      out[k] = Object.fromEntries(
        Object.entries(v).map(([lk, lv]) => [lk, typeof lv === 'string' ? redactText(lv) : redact(lv, seen)]),
      );
      continue;
    }
    out[k] = isSecretKey(k) && v !== undefined && v !== null && v !== '' ? MASK : redact(v, seen);
  }
  return out as T;
}
