/**
 * How plans and manifest problems are shown: a plan in words (one line per action, a summary) and as a
 * table (cli-table3), or as JSON for machines; diagnostics as `file:line:col: error: message [code]`.
 */
import Table from 'cli-table3';
import { relative } from 'node:path';
import type { ActionKind, Plan, PlannedAction } from '../../reconcile/contracts.js';
import { safeLine } from '../../terminal-text.js';
import type { Diagnostic } from '../../types.js';
import { fitColumns, type ColumnSpec } from './columns.js';

const SYMBOL: Record<ActionKind, string> = {
  create: '+',
  configure: '~',
  resize: '~',
  restart: '~',
  redeploy: '-/+',
  start: '>',
  stop: '.',
  delete: '-',
  orphan: '-',
  unlock: '~',
  forget: '-',
  resume: '...',
  conflict: '!',
  wait: '||',
};

/** `path:line:col: error: message [code]` lines, paths relative to cwd when inside it. */
export function formatDiagnostics(diagnostics: Diagnostic[], cwd = process.cwd()): string {
  return diagnostics
    .map((d) => {
      const rel = relative(cwd, d.file);
      const file = rel && !rel.startsWith('..') ? rel : d.file;
      const where = d.pointer ? ` (at ${safeLine(d.pointer)})` : '';
      const hint = d.hint ? `\n    hint: ${safeLine(d.hint)}` : '';
      return `${safeLine(file)}:${d.line}:${d.col}: ${d.severity}: ${safeLine(d.message)}${where} [${d.code}]${hint}`;
    })
    .join('\n');
}

/** Counts per kind, in words: "2 to create, 1 to change, 1 to delete, 1 waiting, 1 conflict". */
export function summarizePlan(plan: Plan): string {
  if (plan.converged) return 'No changes. The fleet matches the manifests.';
  const count = (kinds: ActionKind[]) => plan.actions.filter((a) => kinds.includes(a.kind)).length;
  const workers = new Set(plan.actions.map((a) => a.worker)).size;
  const parts: string[] = [];
  const add = (n: number, text: string) => n > 0 && parts.push(`${n} ${text}`);
  add(count(['create']), 'to create');
  add(count(['configure', 'resize', 'restart', 'start', 'stop', 'unlock']), 'to change');
  add(count(['redeploy']), 'to redeploy');
  add(count(['delete', 'orphan', 'forget']), 'to remove');
  add(count(['resume']), 'to resume');
  add(count(['wait']), 'waiting');
  add(count(['conflict']), count(['conflict']) === 1 ? 'conflict' : 'conflicts');
  let text = `Plan: ${parts.join(', ') || 'nothing to do'} (${workers} worker${workers === 1 ? '' : 's'}).`;
  if (plan.massDeleteBlocked) {
    const m = plan.massDeleteBlocked;
    text +=
      `\nMass-delete guard: ${m.wouldDelete} of ${m.of} workers would be deleted (more than ${m.threshold});` +
      ' nothing is deleted without --allow-mass-delete.';
  }
  return text;
}

/** One line per action: symbol, worker, kind [class]: reason (blocked: ...). */
export function planInWords(plan: Plan): string {
  return plan.actions
    .map((a) => {
      const blocked = a.blockedBy ? `\n      blocked: ${safeLine(a.blockedBy)}` : '';
      return `  ${SYMBOL[a.kind].padEnd(3)} ${safeLine(a.worker)}: ${a.kind} [${a.class}] ${safeLine(a.reason)}${blocked}`;
    })
    .join('\n');
}

/** The plan as a table: worker, action, class, reason, blocked by (narrow terminals drop class, blocked by). */
export function planTable(plan: Plan, columns = 120): string {
  const cols: ColumnSpec[] = [
    { head: 'worker', min: 16, ideal: 24 },
    { head: 'action', min: 11, ideal: 11 },
    { head: 'class', min: 12, ideal: 12, drop: 2 },
    { head: 'reason', min: 30, ideal: Infinity },
    { head: 'blocked by', min: 20, ideal: 28, drop: 1 },
  ];
  const fit = fitColumns(cols, Math.max(60, columns));
  const table = new Table({
    head: fit.shown.map((i) => cols[i]!.head),
    colWidths: fit.widths,
    wordWrap: true,
    style: { head: [], border: [] },
  });
  for (const a of plan.actions) {
    const row = [a.worker, a.kind, a.class, a.reason, a.blockedBy ?? ''].map(safeLine);
    table.push(fit.shown.map((i) => row[i]!));
  }
  return table.toString();
}

/** The full human output of `workerctl plan`. */
export function formatPlan(plan: Plan, columns = 120): string {
  if (plan.converged) return summarizePlan(plan);
  return [summarizePlan(plan), '', planInWords(plan), '', planTable(plan, columns)].join('\n');
}

/** What `plan -o json` prints. */
export function planJson(plan: Plan, diagnostics: Diagnostic[]): unknown {
  return {
    converged: plan.converged,
    summary: summarizePlan(plan).split('\n')[0],
    actions: plan.actions.map((a: PlannedAction) => ({ ...a })),
    massDeleteBlocked: plan.massDeleteBlocked ?? null,
    diagnostics,
  };
}
