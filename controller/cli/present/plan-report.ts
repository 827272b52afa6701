/**
 * A plan as `workerctl plan` reports it, locally or from a controller (--controller): the plan, the
 * manifest problems, where each worker is declared, what is blocked on a person, the manifests'
 * commit. Rendered for people (table: plan-output.ts), machines (json, yaml), a pull-request comment
 * (markdown) and GitHub Actions annotations (github). The exit code follows Terraform's
 * `-detailed-exitcode`: 0 nothing to do, 2 changes pending, 1 any error, and a plan with something
 * only a person can fix (loop/blockers.ts) is an error: `apply` would not get through it.
 */
import type { Blocker } from '../../loop/blockers.js';
import type { Plan, PlannedAction } from '../../reconcile/contracts.js';
import type { Diagnostic, GitRevision, SourceRef } from '../../types.js';
import { escapeData, escapeProperty } from './validate-report.js';
import { formatDiagnostics, formatPlan, planJson, summarizePlan } from './plan-output.js';
import { safeLine, safeText } from '../../terminal-text.js';

export interface PlanReport {
  plan: Plan;
  /** Manifest problems, files as shown to the user. */
  diagnostics: Diagnostic[];
  /** Where each worker is declared, files as shown to the user. */
  sources: Record<string, SourceRef>;
  blocked: Blocker[];
  /** The commit of the manifests planned, when they are in a Git checkout. */
  revision?: GitRevision;
  /** What the plan was made against, in words: 'the state in .workerctl', 'the controller at URL'. */
  against: string;
}

export const PLAN_EXIT_CONVERGED = 0;
export const PLAN_EXIT_ERROR = 1;
export const PLAN_EXIT_CHANGES = 2;

/** 0 nothing to do, 2 changes pending, 1 invalid manifests or anything blocked. */
export function planExitCode(r: PlanReport): number {
  if (r.diagnostics.some((d) => d.severity === 'error') || r.blocked.length > 0) return PLAN_EXIT_ERROR;
  return r.plan.converged ? PLAN_EXIT_CONVERGED : PLAN_EXIT_CHANGES;
}

/** What json and yaml print. */
export function planReportData(r: PlanReport): Record<string, unknown> {
  const base = planJson(r.plan, r.diagnostics) as Record<string, unknown>;
  return {
    ...base,
    actions: r.plan.actions.map((a) => ({ ...a, source: sourceText(r.sources[a.worker]) })),
    blocked: r.blocked,
    revision: r.revision ?? null,
    against: r.against,
  };
}

function sourceText(src: SourceRef | undefined): string | null {
  return src ? `${src.file}:${src.line}:${src.col}` : null;
}

/** "worker: " before a message, unless the message names the worker already. */
function who(b: Blocker): string {
  return b.worker && !b.message.includes(b.worker) ? `${b.worker}: ` : '';
}

/** The blockers in words, each with its fix (apply). */
export function formatBlockers(blocked: readonly Blocker[]): string {
  if (blocked.length === 0) return '';
  const lines = [`Blocked: ${blocked.length} thing(s) only a person can fix:`];
  // Messages name VMs and files from Proxmox and manifests: one escaped line each.
  for (const b of blocked)
    lines.push(safeLine(`  ${who(b)}${b.reason}: ${b.message}`), safeLine(`    fix: ${b.fix}`));
  return lines.join('\n');
}

/** The blockers as error lines, each with its fix (plan, on stderr). */
export function formatBlockerErrors(blocked: readonly Blocker[]): string {
  return blocked
    .map((b) => `${safeLine(`error: ${b.reason}: ${who(b)}${b.message}`)}\n  fix: ${safeLine(b.fix)}`)
    .join('\n');
}

/** The table format: revision, the plan in words and as a table (the blockers go to stderr). */
export function formatPlanTable(r: PlanReport, columns: number): string {
  const parts: string[] = [];
  if (r.revision)
    parts.push(safeLine(`Manifests at ${revisionText(r.revision)}, planned against ${r.against}.`));
  parts.push(formatPlan(r.plan, columns));
  return parts.join('\n');
}

/** Diagnostics for stderr (table format). */
export function formatPlanDiagnostics(r: PlanReport): string {
  return r.diagnostics.length > 0 ? formatDiagnostics(r.diagnostics) : '';
}

function revisionText(rev: GitRevision): string {
  return `${rev.commit.slice(0, 7)}${rev.ref ? ` (${rev.ref})` : ''}`;
}

const SYMBOL: Partial<Record<PlannedAction['kind'], string>> = {
  create: '+',
  redeploy: '-/+',
  delete: '-',
  orphan: '-',
  forget: '-',
  conflict: '!',
  wait: '||',
  resume: '...',
  start: '>',
  stop: '.',
};

/** Text safe inside a Markdown table cell: no pipes, line breaks or HTML, control characters shown. */
export function markdownCell(text: string): string {
  return visible(text)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\|/g, '\\|')
    .replace(/`/g, "'")
    .replace(/\r?\n/g, '<br>');
}

/**
 * Control and bidirectional characters escaped (terminal-text.ts), line breaks kept for the caller
 * to encode, so a comment or an annotation never carries raw escapes or reordered text.
 */
function visible(text: string): string {
  return safeText(text.replace(/\t/g, ' '));
}

/** A summary for a pull-request comment: the counts, a table of actions, the blockers, problems. */
export function formatPlanMarkdown(r: PlanReport): string {
  const [summary, ...more] = summarizePlan(r.plan).split('\n');
  const out: string[] = [`### workerctl plan: ${markdownCell(summary!.replace(/^Plan: /, ''))}`, ''];
  const meta = [`planned against ${markdownCell(r.against)}`];
  if (r.revision)
    meta.unshift(
      `manifests at \`${r.revision.commit.slice(0, 7)}\`${r.revision.ref ? ` (${markdownCell(r.revision.ref)})` : ''}`,
    );
  out.push(meta.join(', ') + '.', '');
  for (const line of more) out.push(`> ${markdownCell(line)}`, '');
  if (r.plan.actions.length > 0) {
    out.push('| | worker | action | class | what and why | where |', '|---|---|---|---|---|---|');
    for (const a of r.plan.actions) {
      const why = a.blockedBy ? `${a.reason} (${a.blockedBy})` : a.reason;
      const src = r.sources[a.worker];
      out.push(
        `| ${markdownCell(SYMBOL[a.kind] ?? '~')} | \`${markdownCell(a.worker)}\` | ${a.kind} | ${a.class} | ${markdownCell(why)} | ${src ? `\`${markdownCell(`${src.file}:${src.line}`)}\`` : ''} |`,
      );
    }
    out.push('');
  }
  if (r.blocked.length > 0) {
    out.push(`**Blocked** (only a person can fix, so \`apply\` would not finish):`, '');
    for (const b of r.blocked) {
      const who = b.worker ? `\`${markdownCell(b.worker)}\` ` : '';
      out.push(
        `- ${who}**${markdownCell(b.reason)}**: ${markdownCell(b.message)}<br>fix: ${markdownCell(b.fix)}`,
      );
    }
    out.push('');
  }
  const errors = r.diagnostics.filter((d) => d.severity === 'error').length;
  if (r.diagnostics.length > 0) {
    out.push(
      `<details><summary>${r.diagnostics.length} manifest problem(s), ${errors} error(s)</summary>`,
      '',
    );
    for (const d of r.diagnostics) {
      out.push(
        `- \`${markdownCell(`${d.file}:${d.line}:${d.col}`)}\` ${d.severity}: ${markdownCell(d.message)} (${markdownCell(d.code)})`,
      );
    }
    out.push('', '</details>', '');
  }
  return safeText(out.join('\n'));
}

/** GitHub Actions annotations: problems and blockers as errors, actions as notices, on their lines. */
export function formatPlanGithub(r: PlanReport): string {
  const lines: string[] = [];
  const at = (src: SourceRef | undefined): string[] =>
    src ? [`file=${escapeProperty(src.file)}`, `line=${src.line}`, `col=${src.col}`] : [];
  for (const d of r.diagnostics) {
    const props = [...at(d), `title=${escapeProperty(`workerctl ${d.code}`)}`];
    lines.push(`::${d.severity} ${props.join(',')}::${escapeData(visible(d.message))}`);
  }
  for (const b of r.blocked) {
    const props = [
      ...at(b.worker ? r.sources[b.worker] : undefined),
      `title=${escapeProperty(`workerctl plan: blocked: ${b.reason}`)}`,
    ];
    lines.push(
      `::error ${props.join(',')}::${escapeData(visible(`${b.worker ? `${b.worker}: ` : ''}${b.message}\nfix: ${b.fix}`))}`,
    );
  }
  for (const a of r.plan.actions) {
    if (a.kind === 'conflict' || (a.blockedBy && a.kind !== 'wait')) continue;
    const props = [
      ...at(r.sources[a.worker]),
      `title=${escapeProperty(`workerctl plan: ${a.worker} ${a.kind} [${a.class}]`)}`,
    ];
    lines.push(
      `::notice ${props.join(',')}::${escapeData(visible(a.blockedBy ? `${a.reason} (${a.blockedBy})` : a.reason))}`,
    );
  }
  lines.push(summarizePlan(r.plan).split('\n')[0]!);
  // Titles carry worker names too: no line carries a raw control or bidirectional character.
  return lines.map(safeLine).join('\n') + '\n';
}
