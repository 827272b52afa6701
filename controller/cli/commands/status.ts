/**
 * `workerctl status [-o table|json|yaml]`: the workers as the configuration database records them.
 * Asks a running controller's API first (--controller, WORKERCTL_CONTROLLER, default
 * http://127.0.0.1:8080); when none answers at the default address it says so and reads the state
 * directory read-only (no lock) instead. An explicit --state-dir (and no controller named) reads that
 * database directly.
 */
import Table from 'cli-table3';
import type { Command } from 'commander';
import { conditionOf, isReady, lastActivity } from '../../loop/snapshot.js';
import { readStateSnapshot } from '../../compose/app.js';
import { MemoryStore } from '../../store/memory-store.js';
import { resolve } from 'node:path';
import type { WorkerRecord } from '../../types.js';
import type { BudgetView } from '../../proxmox/node-budget.js';
import { ControllerUnavailableError } from '../../errors.js';
import { MANIFESTS_META, type ManifestsMeta } from '../../reconcile/intake.js';
import { displayPath } from '../../manifest/finding.js';
import { matchesSelector, parseSelector } from '../../selector.js';
import { selectorOption } from '../command-support.js';
import { examples } from '../help.js';
import { outputOption, printStructured } from '../output.js';
import { fitColumns, relativeInText, type ColumnSpec } from '../present/columns.js';
import { apiClient, withApiOptions, type ApiOptions } from './api-options.js';
import { safeLine } from '../../terminal-text.js';

type StatusFlags = ApiOptions & {
  output: string;
  stateDir: string;
  selector?: string[];
  explicitStateDir?: boolean;
};

export function register(program: Command): void {
  withApiOptions(program.command('status'))
    .description('show each worker: phase, Ready, vmid, last action or error')
    .addOption(outputOption())
    .addOption(selectorOption())
    .option('--state-dir <dir>', 'state directory', '.workerctl')
    .argument('[names...]', 'only these workers')
    .addHelpText(
      'after',
      examples([
        ['workerctl status', 'from the controller at 127.0.0.1:8080, else the database in .workerctl'],
        ['workerctl status -o yaml pve1-worker-02', 'one worker, every field'],
        ['workerctl status -l site=dc1 --controller http://ctl:8080', 'the workers labelled site=dc1'],
      ]),
    )
    .action(async (names: string[], flags: StatusFlags, cmd: Command) => {
      // An explicit --state-dir means that database, unless a controller is named too.
      flags.explicitStateDir = cmd.getOptionValueSource('stateDir') === 'cli';
      process.exitCode = await runStatus(names, flags);
    });
}

/** The status view of one record (what json/yaml print). */
export function statusView(r: WorkerRecord): Record<string, unknown> {
  return {
    name: r.name,
    host: r.spec.host,
    vmid: r.vmid ?? null,
    node: r.node ?? null,
    generation: r.generation,
    observedGeneration: r.status.observedGeneration,
    phase: r.status.phase,
    ready: isReady(r),
    conditions: r.status.conditions,
    lastError: r.status.lastError ?? null,
    sessions: r.status.sessions,
    lastTest: r.status.lastTest ?? null,
    removing: r.removeRequestedAt !== undefined,
    intent: r.intent ?? null,
    source: r.source ? `${displayPath(r.source.file)}:${r.source.line}:${r.source.col}` : null,
    labels: r.spec.labels,
    revision: r.revision ?? null,
    history: r.status.history.slice(-5),
  };
}

interface StatusData {
  workers: WorkerRecord[];
  manifests?: ManifestsMeta | null;
  /** The running controller's Proxmox API budget and its use (none from the database). */
  budget?: BudgetView | null;
}

/**
 * The records from a running controller with its API budget, or (when none answers at the default
 * address) the database.
 */
async function loadRecords(stateDir: string, flags: StatusFlags): Promise<StatusData> {
  const client = apiClient(flags);
  if (flags.explicitStateDir && !client.explicit) return readDatabase(stateDir);
  try {
    const data = await client.recordsWithManifests();
    return { ...data, budget: (await client.status()).proxmox.budget };
  } catch (err) {
    if (!(err instanceof ControllerUnavailableError) || client.explicit) throw err;
    process.stderr.write(
      `workerctl: no controller is running at ${client.url}; showing the database in ${displayPath(stateDir)}\n`,
    );
  }
  return readDatabase(stateDir);
}

const limit = (n: number, unit: string): string => (n > 0 ? `${n} ${unit}` : `no limit on ${unit}`);

/** The budget in words: the limits, then per node what was used and waited. */
export function budgetLines(b: BudgetView): string[] {
  const out = [
    // Fits 80 columns, like the table above it.
    `api budget per node: ${limit(b.callsPerNode, 'calls in flight')} ` +
      `(${limit(b.agentCallsPerNode, 'agent')}), ${limit(b.requestsPerSecondPerNode, 'requests/s')}`,
  ];
  for (const [node, u] of Object.entries(b.nodes).sort(([a], [c]) => a.localeCompare(c))) {
    const waits = u.concurrencyWaits.count + u.rateWaits.count;
    const waitS = (u.concurrencyWaits.ms + u.rateWaits.ms) / 1000;
    out.push(
      `  ${node}: ${u.requests} requests, ${u.inFlight} in flight (peak ${u.peak}), ` +
        `${waits} budget waits (${waitS.toFixed(1)} s)`,
    );
  }
  return out;
}

async function readDatabase(stateDir: string): Promise<StatusData> {
  const store = new MemoryStore({ initial: readStateSnapshot(stateDir) });
  await store.open();
  const workers = store.listWorkers();
  const manifests = store.getMeta<ManifestsMeta>(MANIFESTS_META);
  await store.close();
  return { workers, manifests };
}

async function runStatus(names: string[], flags: StatusFlags): Promise<number> {
  const stateDir = resolve(flags.stateDir);
  const selector = parseSelector(flags.selector);
  const data = await loadRecords(stateDir, flags);
  let records = data.workers;
  const budget = data.budget ? { apiBudget: data.budget } : {};
  if (names.length > 0) {
    const missing = names.filter((n) => !records.some((r) => r.name === n));
    if (missing.length > 0) {
      process.stderr.write(
        `workerctl: no such worker: ${safeLine(missing.join(', '))} (state dir ${safeLine(displayPath(stateDir))})\n`,
      );
      return 1;
    }
    records = records.filter((r) => names.includes(r.name));
  }
  records = records.filter((r) => matchesSelector(selector, r.spec.labels));
  const manifests = data.manifests ?? null;
  if (printStructured(flags.output, { manifests, workers: records.map(statusView), ...budget })) return 0;
  if (manifests?.revision) {
    const ref = manifests.ref ? ` (${manifests.ref})` : '';
    // The ref is a branch name from the checkout: shown escaped like everything else.
    process.stdout.write(
      safeLine(`manifests at ${manifests.revision.slice(0, 7)}${ref}, since ${manifests.since}`) + '\n',
    );
  }
  if (records.length === 0) {
    process.stdout.write(
      selector
        ? `no workers match ${safeLine(selector.text)}\n`
        : `no workers recorded in ${safeLine(displayPath(stateDir))}\n`,
    );
    return 0;
  }
  process.stdout.write(`${statusTable(records, process.stdout.columns ?? 80)}\n`);
  const ready = records.filter(isReady).length;
  process.stdout.write(`${records.length} workers, ${ready} Ready\n`);
  if (data.budget) process.stdout.write(budgetLines(data.budget).map(safeLine).join('\n') + '\n');
  return 0;
}

/** The status table, within `width` columns (narrow terminals drop gen, host, then vmid). */
export function statusTable(records: readonly WorkerRecord[], width: number): string {
  const rows = records.map((r) => {
    const ready = conditionOf(r, 'Ready');
    return [
      r.name + (r.removeRequestedAt ? ' (removing)' : ''),
      r.spec.host,
      r.vmid !== undefined ? String(r.vmid) : '-',
      r.status.phase,
      !ready ? 'Unknown' : ready.status === 'True' ? 'True' : `${ready.status} ${ready.reason}`,
      `${r.status.observedGeneration}/${r.generation}`,
      relativeInText(lastActivity(r)),
    ].map(safeLine);
  });
  const longest = (k: number, head: string) => Math.max(head.length, ...rows.map((r) => r[k]!.length)) + 2;
  const cols: ColumnSpec[] = [
    { head: 'worker', min: Math.min(24, longest(0, 'worker')), ideal: Math.min(42, longest(0, 'worker')) },
    { head: 'host', min: 6, ideal: longest(1, 'host'), drop: 2 },
    { head: 'vmid', min: 7, ideal: longest(2, 'vmid'), drop: 3 },
    { head: 'phase', min: 12, ideal: 12 },
    { head: 'Ready', min: 10, ideal: Math.min(24, longest(4, 'Ready')) },
    { head: 'gen', min: 5, ideal: longest(5, 'gen'), drop: 1 },
    { head: 'last action / error', min: 20, ideal: Infinity },
  ];
  const fit = fitColumns(cols, Math.max(60, width));
  const table = new Table({
    head: fit.shown.map((i) => cols[i]!.head),
    style: { head: [], border: [] },
    wordWrap: true,
    colWidths: fit.widths,
  });
  for (const r of rows) table.push(fit.shown.map((i) => r[i]!));
  return table.toString();
}
