/**
 * Durations on the command line: `30s`, `5m`, `1h`, `1h30m`, `250ms`, or a bare `0`. Anything else is a
 * UsageError that names the flag and shows what is accepted.
 */
import { UsageError } from './errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;

/** Parses a duration into milliseconds; `what` names the flag in the error, e.g. '--timeout'. */
export function parseDuration(text: string, what = 'duration'): number {
  const s = text.trim();
  if (s === '0') return 0;
  if (s === '') throw new UsageError(`${what}: empty duration (use e.g. 30s, 5m, 1h)`);
  let total = 0;
  let pos = 0;
  PART.lastIndex = 0;
  while (pos < s.length) {
    PART.lastIndex = pos;
    const m = PART.exec(s);
    if (!m) {
      const hint = /^\d+(\.\d+)?$/.test(s) ? ' (a unit is required: ms, s, m, h or d)' : '';
      throw new UsageError(`${what}: invalid duration '${text}'${hint}; use e.g. 30s, 5m, 1h or 1h30m`);
    }
    total += Number(m[1]) * UNIT_MS[m[2]];
    pos = PART.lastIndex;
  }
  if (!Number.isFinite(total)) throw new UsageError(`${what}: duration '${text}' is too large`);
  return Math.round(total);
}

/** Short human form of a duration in ms: 850ms, 12.3s, 4m05s, 2h10m. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  if (ms < 3_600_000) {
    const m = Math.floor(ms / 60_000);
    const s = Math.floor((ms % 60_000) / 1000);
    return `${m}m${String(s).padStart(2, '0')}s`;
  }
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  return `${h}h${String(m).padStart(2, '0')}m`;
}

/** A commander option parser for durations. */
export function durationOption(flag: string): (value: string) => number {
  return (value: string) => parseDuration(value, flag);
}
