/**
 * The API's bearer token: read from a file (never a flag value, never logged), compared in constant
 * time. Without a token, requests that change something are refused.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { ConfigError } from '../errors.js';

/** Reads a token file: the first line, trimmed; an empty file is an error. */
export async function readTokenFile(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError(`unable to read the API token file ${file}: ${code}`);
  }
  const token = text.split(/\r?\n/)[0]?.trim() ?? '';
  if (token.length < 8)
    throw new ConfigError(`the API token file ${file} holds no token of at least 8 characters`);
  return token;
}

/** Writes a fresh random token to `file` (mode 0600) and returns it. */
export async function generateTokenFile(file: string): Promise<string> {
  const token = randomBytes(24).toString('base64url');
  await writeFile(file, token + '\n', { mode: 0o600 });
  return token;
}

/** Constant-time comparison (hashing first makes the lengths equal). */
export function tokensEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The token of an `Authorization: Bearer ...` header, if any. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m?.[1];
}
