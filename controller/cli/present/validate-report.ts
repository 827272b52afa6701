/**
 * Renders a LoadResult for people (compiler style), machines (JSON) and GitHub Actions
 * (workflow-command annotations). Paths are shown relative to a base directory (the cwd).
 */
import { displayPath } from '../../manifest/finding.js';
import { safeLine } from '../../terminal-text.js';
import { structured } from '../output.js';
import type { Diagnostic, LoadResult } from '../../types.js';

/** Counts for the summary line. */
export interface ReportSummary {
  files: number;
  workers: number;
  errors: number;
  warnings: number;
}

/** The output formats of `workerctl validate` (`text` is still accepted for `table`). */
export const REPORT_FORMATS = ['table', 'json', 'yaml', 'github'] as const;
/** One of REPORT_FORMATS. */
export type ReportFormat = (typeof REPORT_FORMATS)[number];

/** Options of the renderers. */
export interface ReportOptions {
  /** Paths are shown relative to this directory (default: the cwd). */
  cwd?: string;
  /** Returns a file's text, to quote the offending line (text format); undefined to skip. */
  readSource?: (file: string) => string | undefined;
}

/** Counts files, valid workers, errors and warnings. */
export function summarize(result: LoadResult): ReportSummary {
  let errors = 0;
  let warnings = 0;
  for (const d of result.diagnostics) {
    if (d.severity === 'error') errors++;
    else warnings++;
  }
  return { files: result.files.length, workers: result.workers.length, errors, warnings };
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** "3 files, 8 workers, 0 errors" (", 1 warning" when there are warnings). */
export function summaryLine(s: ReportSummary): string {
  const parts = [plural(s.files, 'file'), plural(s.workers, 'worker'), plural(s.errors, 'error')];
  if (s.warnings > 0) parts.push(plural(s.warnings, 'warning'));
  return parts.join(', ');
}

/** Compiler-style text: `file:line:col: error: message [code]`, the source line, pointer, value and hint. */
export function formatText(result: LoadResult, opts: ReportOptions = {}): string {
  const cwd = opts.cwd ?? process.cwd();
  const sources = new Map<string, string[] | undefined>();
  const lines: string[] = [];
  for (const d of result.diagnostics) {
    lines.push(`${displayPath(d.file, cwd)}:${d.line}:${d.col}: ${d.severity}: ${d.message} [${d.code}]`);
    if (opts.readSource) {
      if (!sources.has(d.file)) sources.set(d.file, opts.readSource(d.file)?.split(/\r?\n/));
      const src = sources.get(d.file)?.[d.line - 1];
      if (src !== undefined && src.length <= 300) {
        const num = String(d.line);
        const width = d.endLine === d.line && d.endCol !== undefined ? Math.max(1, d.endCol - d.col) : 1;
        lines.push(`  ${num} | ${src}`);
        lines.push(
          `  ${' '.repeat(num.length)} | ${' '.repeat(Math.max(0, d.col - 1))}${'^'.repeat(Math.min(width, 80))}`,
        );
      }
    }
    const where: string[] = [];
    if (d.pointer !== '') where.push(`at ${d.pointer}`);
    if (d.value !== undefined) where.push(`value: ${JSON.stringify(d.value)}`);
    if (where.length > 0) lines.push(`  ${where.join(', ')}`);
    if (d.hint) lines.push(`  hint: ${d.hint}`);
  }
  lines.push(summaryLine(summarize(result)));
  // Each entry is one line: a newline or an escape sequence in a key, value or source line is shown escaped.
  return `${lines.map(safeLine).join('\n')}\n`;
}

/** A diagnostic with its file shown relative to cwd. */
function relativeDiagnostic(d: Diagnostic, cwd: string): Diagnostic {
  return { ...d, file: displayPath(d.file, cwd) };
}

/** Machine-readable JSON: {valid, summary, workers, diagnostics, invalidFiles}. */
export function formatJson(result: LoadResult, opts: ReportOptions = {}): string {
  return structured('json', reportData(result, opts))!;
}

/** What json and yaml print. */
function reportData(result: LoadResult, opts: ReportOptions): unknown {
  const cwd = opts.cwd ?? process.cwd();
  const summary = summarize(result);
  return {
    valid: summary.errors === 0,
    summary,
    workers: result.workers.map((w) => ({
      name: w.spec.name,
      file: displayPath(w.source.file, cwd),
      line: w.source.line,
      col: w.source.col,
      specHash: w.specHash,
    })),
    diagnostics: result.diagnostics.map((d) => relativeDiagnostic(d, cwd)),
    invalidFiles: result.invalidFiles.map((f) => displayPath(f, cwd)),
  };
}

/** A workflow command's message, escaped (%, CR, LF). */
export function escapeData(s: string): string {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** A workflow command's property value, escaped (also : and ,). */
export function escapeProperty(s: string): string {
  return escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

/** GitHub Actions annotations: `::error file=...,line=...,col=...,title=...::message`, then the summary. */
export function formatGithub(result: LoadResult, opts: ReportOptions = {}): string {
  const cwd = opts.cwd ?? process.cwd();
  const lines = result.diagnostics.map((d) => {
    const props = [`file=${escapeProperty(displayPath(d.file, cwd))}`, `line=${d.line}`, `col=${d.col}`];
    if (d.endLine !== undefined) props.push(`endLine=${d.endLine}`);
    if (d.endCol !== undefined && d.endLine === d.line) props.push(`endColumn=${d.endCol}`);
    props.push(`title=${escapeProperty(`workerctl ${d.code}`)}`);
    const body = d.hint ? `${d.message}\nhint: ${d.hint}` : d.message;
    return `::${d.severity} ${props.join(',')}::${escapeData(body)}`;
  });
  lines.push(summaryLine(summarize(result)));
  return `${lines.map(safeLine).join('\n')}\n`;
}

/** Renders in one of the formats. */
export function formatReport(result: LoadResult, format: ReportFormat, opts: ReportOptions = {}): string {
  if (format === 'json') return formatJson(result, opts);
  if (format === 'yaml') return structured('yaml', reportData(result, opts))!;
  if (format === 'github') return formatGithub(result, opts);
  return formatText(result, opts);
}
