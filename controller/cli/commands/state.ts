/**
 * `workerctl state check` and `workerctl state restore`: inspect the configuration database and roll
 * it back to its last good copy. check reads without the lock (a running controller is fine) and
 * exits 1 when the database is damaged; restore needs the controller stopped.
 */
import type { Command } from 'commander';
import { join } from 'node:path';
import { silentLogger } from '../../log.js';
import { DB_FILE_NAME, DEFAULT_STATE_DIR } from '../../store/lowdb-store.js';
import { inspectStateDir, restoreDatabase, type DatabaseReport } from '../../store/maintenance.js';
import { safeText } from '../../terminal-text.js';
import { examples } from '../help.js';
import { outputOption, printStructured } from '../output.js';

function describe(r: DatabaseReport): string {
  if (!r.exists) return `${r.file}: none`;
  if (!r.ok) return `${r.file}: DAMAGED\n${r.problems.map((p) => `  ${p}`).join('\n')}`;
  const n = (k: number | undefined, what: string) => `${k ?? 0} ${what}${k === 1 ? '' : 's'}`;
  return `${r.file}: ok (schema version ${r.schemaVersion}, ${n(r.workers, 'worker')}, ${n(r.sessions, 'session')}, ${r.bytes} bytes)`;
}

/** Runs `state check`; returns the exit code (1 when the database is damaged). */
export async function runStateCheck(stateDir: string, output: string): Promise<number> {
  const report = await inspectStateDir(stateDir);
  if (!printStructured(output, report)) {
    const lines = [describe(report.database), describe(report.backup)];
    lines.push(
      report.lock
        ? `lock: held by pid ${report.lock.pid} on ${report.lock.hostname} (since ${report.lock.since})`
        : 'lock: free',
    );
    if (report.database.exists && !report.database.ok) {
      lines.push(
        report.backup.ok
          ? `to roll back: stop the controller, then workerctl state restore --state-dir ${stateDir}`
          : `the backup is not usable either: move ${join(stateDir, DB_FILE_NAME)} aside to start empty (workerctl then reports the VMs it made as conflicts and leaves them alone)`,
      );
    }
    process.stdout.write(safeText(lines.join('\n')) + '\n');
  }
  return report.database.exists && !report.database.ok ? 1 : 0;
}

/** Runs `state restore`; returns the exit code. */
export async function runStateRestore(
  stateDir: string,
  from: string | undefined,
  output = 'table',
): Promise<number> {
  const result = await restoreDatabase(stateDir, { from, logger: silentLogger() });
  if (printStructured(output, result)) return 0;
  const lines = [
    `restored ${join(stateDir, DB_FILE_NAME)} from ${result.restoredFrom}`,
    describe(result.report),
  ];
  if (result.keptAs) lines.push(`the file it replaced is kept as ${result.keptAs}`);
  process.stdout.write(safeText(lines.join('\n')) + '\n');
  return 0;
}

/** Adds `state check` and `state restore` to the program. */
export function register(program: Command): void {
  const state = program
    .command('state')
    .description('inspect the configuration database, or roll it back to its last good copy')
    .addHelpText(
      'after',
      examples([
        ['workerctl state check', 'is the database sound, who holds the lock'],
        ['workerctl state restore', 'roll back to the last good copy'],
      ]),
    );
  state
    .command('check')
    .description('check the database and its backup (.bak) and say who holds the lock; exit 1 when damaged')
    .option('--state-dir <dir>', 'state directory', DEFAULT_STATE_DIR)
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples([
        ['workerctl state check', 'the database in .workerctl, its .bak and the lock holder'],
        ['workerctl state check --state-dir /var/lib/workerctl -o json', 'the same as JSON'],
      ]),
    )
    .action(async (opts: { stateDir: string; output: string }) => {
      process.exitCode = await runStateCheck(opts.stateDir, opts.output);
    });
  state
    .command('restore')
    .description(
      'put the last good copy (.bak, or --from FILE) back in place; the controller must be stopped',
    )
    .option('--state-dir <dir>', 'state directory', DEFAULT_STATE_DIR)
    .option('--from <file>', 'the copy to restore (default: <state-dir>/workerctl.db.json.bak)')
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples([
        ['workerctl state restore --state-dir /var/lib/workerctl', 'put the .bak back (controller stopped)'],
        ['workerctl state restore --from copy.json', 'restore another copy that checks out'],
      ]),
    )
    .action(async (opts: { stateDir: string; from?: string; output: string }) => {
      process.exitCode = await runStateRestore(opts.stateDir, opts.from, opts.output);
    });
}
