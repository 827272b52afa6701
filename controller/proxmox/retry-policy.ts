/**
 * Which failed calls may be sent again. Only:
 * - idempotent reads (GET) after a TransientError (59x, 502-504, reset, stale keep-alive socket, timeout);
 * - synchronous config writes (PUT config) after LockTimeoutError: the server refused before changing
 *   anything, so a resend cannot double-apply.
 * A POST/DELETE whose fate is unknown (clone, create, start, delete ...) is NEVER resent: the caller gets
 * the TransientError and looks the VM up instead.
 */
import { LockTimeoutError, TransientError } from '../errors.js';
import type { RetryOptions } from './options.js';

/** How a request may be retried. */
export type RetryClass = 'idempotent' | 'lock-retry' | 'never';

/** The retry class of a method, unless the operation overrides it. */
export function defaultRetryClass(method: string): RetryClass {
  return method === 'GET' ? 'idempotent' : 'never';
}

/** True when `err` on attempt `attempt` (0-based) may be retried under `cls`. */
export function shouldRetry(err: unknown, cls: RetryClass, attempt: number, opts: RetryOptions): boolean {
  if (cls === 'idempotent') return err instanceof TransientError && attempt < opts.getRetries;
  if (cls === 'lock-retry') return err instanceof LockTimeoutError && attempt < opts.lockRetries;
  return false;
}

/** Exponential backoff for retry `attempt` (0-based), capped, with optional jitter. */
export function backoffDelay(
  attempt: number,
  opts: RetryOptions,
  random: () => number = Math.random,
): number {
  const base = Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** attempt);
  if (!opts.jitter) return base;
  const spread = base * opts.jitter;
  return Math.max(0, Math.round(base - spread + random() * 2 * spread));
}
