/**
 * The one `-o, --output` option every command that prints a result has: `table` (for people, the
 * default), `json` and `yaml` (for machines), plus a command's own formats (validate and plan:
 * `github` annotations; plan: `markdown` for a pull-request comment). `text`, the old name of
 * `table`, is still accepted.
 */
import { Option } from 'commander';
import { stringify } from 'yaml';
import { UsageError } from '../errors.js';
import { safeJson, safeText } from '../terminal-text.js';

export const BASE_FORMATS = ['table', 'json', 'yaml'] as const;

/** A format name as given (`text` is `table`), or a UsageError listing the formats. */
export function normalizeFormat(value: string, formats: readonly string[], flag = '-o'): string {
  const f = value === 'text' ? 'table' : value;
  if (!formats.includes(f))
    throw new UsageError(`${flag}: unknown output format '${value}'; use one of ${formats.join(', ')}`);
  return f;
}

/** `-o, --output <format>` with table, json, yaml and `extra`. */
export function outputOption(extra: readonly string[] = []): Option {
  const formats = [...BASE_FORMATS, ...extra];
  const opt = new Option('-o, --output <format>', 'output format')
    .default('table')
    .argParser((v: string) => normalizeFormat(v, formats));
  // Shown in --help and offered by shell completion; the parser above also takes `text`.
  opt.argChoices = formats;
  return opt;
}

/**
 * The JSON or YAML text of `data`, or undefined for any other format (the caller draws a table).
 * Made safe for a terminal without changing the value: JSON.stringify leaves DEL, C1 and the
 * bidirectional characters raw, and yaml double-quotes C0 controls but leaves the others raw.
 */
export function structured(format: string, data: unknown): string | undefined {
  if (format === 'json') return safeJson(JSON.stringify(data, null, 2)) + '\n';
  if (format === 'yaml') return safeText(stringify(data));
  return undefined;
}

/** Prints `data` as JSON or YAML and returns true, or returns false for a table format. */
export function printStructured(
  format: string,
  data: unknown,
  out: NodeJS.WritableStream = process.stdout,
): boolean {
  const text = structured(format, data);
  if (text === undefined) return false;
  out.write(text);
  return true;
}
