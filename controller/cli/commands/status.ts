/**
 * `workerctl status [-o table|json|yaml]`: the workers as the configuration database records them.
 * Asks a running controller's API first (--controller, WORKERCTL_CONTROLLER, default
 * http://127.0.0.1:8080); when none answers at the default address it says so and reads the state
 * directory read-only (no lock) instead. An explicit --state-dir (and no controller named) reads that
 * database directly.
 */
import Table from 'cli-table3';
import { Option, type Command } from 'commander';
import { stringify } from 'yaml';
import { conditionOf, isReady, lastActivity } from '../../loop/snapshot.js';
import { readStateSnapshot } from '../../compose/app.js';
import { MemoryStore } from '../../store/memory-store.js';
import { resolve } from 'node:path';
import type { WorkerRecord } from '../../types.js';
import type { BudgetView } from '../../proxmox/node-budget.js';
import { ControllerUnavailableError } from '../../errors.js';
import { apiClient, withApiOptions, type ApiOptions } from './api-options.js';

type StatusFlags = ApiOptions & {
  output: 'table' | 'json' | 'yaml';
  stateDir: string;
  explicitStateDir?: boolean;
};

export function register(program: Command): void {
  withApiOptions(program.command('status'))
    .description('show each worker: phase, Ready, vmid, last action or error')
    .addOption(
      new Option('-o, --output <format>', 'table, json or yaml')
        .choices(['table', 'json', 'yaml'])
        .default('table'),
    )
    .option('--state-dir <dir>', 'state directory', '.workerctl')
    .argument('[names...]', 'only these workers')
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
    source: r.source ? `${r.source.file}:${r.source.line}:${r.source.col}` : null,
    history: r.status.history.slice(-5),
  };
}

/**
 * The records from a running controller with its API budget, or (when none answers at the default
 * address) the database.
 */
async function loadRecords(
  stateDir: string,
  flags: StatusFlags,
): Promise<{ records: WorkerRecord[]; budget?: BudgetView | null }> {
  const client = apiClient(flags);
  if (flags.explicitStateDir && !client.explicit) return { records: await readDatabase(stateDir) };
  try {
    const records = await client.records();
    return { records, budget: (await client.status()).proxmox.budget };
  } catch (err) {
    if (!(err instanceof ControllerUnavailableError) || client.explicit) throw err;
    process.stderr.write(
      `workerctl: no controller is running at ${client.url}; showing the database in ${stateDir}\n`,
    );
  }
  return { records: await readDatabase(stateDir) };
}

const limit = (n: number, unit: string): string => (n > 0 ? `${n} ${unit}` : `no limit on ${unit}`);

/** The budget in words: the limits, then per node what was used and waited. */
export function budgetLines(b: BudgetView): string[] {
  const out = [
    `proxmox api budget per node: ${limit(b.callsPerNode, 'calls in flight')} ` +
      `(${limit(b.agentCallsPerNode, 'guest agent calls')}), ${limit(b.requestsPerSecondPerNode, 'requests/s')}`,
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

async function readDatabase(stateDir: string): Promise<WorkerRecord[]> {
  const store = new MemoryStore({ initial: readStateSnapshot(stateDir) });
  await store.open();
  const records = store.listWorkers();
  await store.close();
  return records;
}

async function runStatus(names: string[], flags: StatusFlags): Promise<number> {
  const stateDir = resolve(flags.stateDir);
  const loaded = await loadRecords(stateDir, flags);
  let records = loaded.records;
  const budget = loaded.budget ? { apiBudget: loaded.budget } : {};
  if (names.length > 0) {
    const missing = names.filter((n) => !records.some((r) => r.name === n));
    if (missing.length > 0) {
      process.stderr.write(`workerctl: no such worker: ${missing.join(', ')} (state dir ${stateDir})\n`);
      return 1;
    }
    records = records.filter((r) => names.includes(r.name));
  }
  if (flags.output === 'json') {
    process.stdout.write(JSON.stringify({ workers: records.map(statusView), ...budget }, null, 2) + '\n');
    return 0;
  }
  if (flags.output === 'yaml') {
    process.stdout.write(stringify({ workers: records.map(statusView), ...budget }));
    return 0;
  }
  if (records.length === 0) {
    process.stdout.write(`no workers recorded in ${stateDir}\n`);
    return 0;
  }
  const table = new Table({
    head: ['worker', 'host', 'vmid', 'phase', 'Ready', 'gen', 'last action / error'],
    style: { head: [], border: [] },
    wordWrap: true,
    colWidths: [
      26,
      10,
      7,
      11,
      22,
      7,
      Math.max(30, (process.stdout.columns ?? 120) - 26 - 10 - 7 - 11 - 22 - 7 - 8),
    ],
  });
  for (const r of records) {
    const ready = conditionOf(r, 'Ready');
    table.push([
      r.name + (r.removeRequestedAt ? ' (removing)' : ''),
      r.spec.host,
      r.vmid ?? '-',
      r.status.phase,
      ready ? `${ready.status} ${ready.reason}` : 'Unknown',
      `${r.status.observedGeneration}/${r.generation}`,
      lastActivity(r),
    ]);
  }
  const ready = records.filter(isReady).length;
  process.stdout.write(`${table.toString()}\n${records.length} workers, ${ready} Ready\n`);
  if (loaded.budget) process.stdout.write(budgetLines(loaded.budget).join('\n') + '\n');
  return 0;
}
