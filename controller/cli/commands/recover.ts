/**
 * `workerctl recover -f DIR`: rebuilds the records of a lost (or emptied) state directory from what
 * the VMs say: every VM with the owner tag is read, and a declared worker whose marker exactly one
 * of them carries gets its record back (vmid, node, the marker's uid). Never automatic, and never a
 * guess: two VMs with one worker's marker, a marker of an undeclared worker, a tag without a marker
 * are reported and left alone. Nothing in Proxmox changes; without --yes nothing is written either.
 * Exit: 0 recovered (or nothing to recover), 2 records would be rebuilt (without --yes), 1 anything
 * ambiguous or an error.
 */
import Table from 'cli-table3';
import type { Command } from 'commander';
import { isoNow } from '../../clock.js';
import { openApp } from '../../compose/app.js';
import { NotFoundError } from '../../errors.js';
import { planRecovery, type MarkedVm, type RecoveryVerdict } from '../../reconcile/takeover.js';
import {
  addConvergeOptions,
  commandLogger,
  manifestPaths,
  settingsFrom,
  validManifests,
  simulatorFrom,
  type ConvergeFlags,
} from '../command-support.js';
import { addConnectionOptions, type ConnectionOptions } from '../connection.js';
import { examples } from '../help.js';
import { outputOption, printStructured } from '../output.js';
import { interruptible } from '../signals.js';
import { safeLine } from '../../terminal-text.js';

type RecoverFlags = ConvergeFlags & ConnectionOptions & { yes?: boolean; output: string };

export function register(program: Command): void {
  const cmd = program
    .command('recover')
    .description(
      "rebuild a lost state directory's records from the owner tag and marker on the vms (acts with --yes)",
    )
    .option('--yes', 'write the records (without: only show what would be recovered)')
    .addOption(outputOption());
  addConvergeOptions(cmd, { massDelete: false });
  addConnectionOptions(cmd);
  cmd.addHelpText(
    'after',
    examples([
      [
        'workerctl recover -f workers/ --server https://pve1:8006 --token-file t --state-dir /var/lib/workerctl',
        'what it would rebuild',
      ],
      [
        'workerctl recover -f workers/ --server ... --state-dir /var/lib/workerctl --yes',
        'rebuild; then plan and apply',
      ],
    ]),
  );
  cmd.action(async (flags: RecoverFlags) => {
    process.exitCode = await runRecover(flags);
  });
}

async function runRecover(flags: RecoverFlags): Promise<number> {
  const paths = manifestPaths(flags);
  return interruptible('recover', flags.grace, (_signal) => recover(flags, paths));
}

async function recover(flags: RecoverFlags, paths: string[]): Promise<number> {
  const load = await validManifests(paths, 'recover');
  if (!load) return 1;
  const settings = settingsFrom(flags);
  const app = await openApp({
    connection: flags,
    settings,
    logger: commandLogger(flags, 'warn'),
    readOnly: !flags.yes,
    simulator: simulatorFrom(flags),
  });
  try {
    const owner = settings.ownerTag.toLowerCase();
    const tagged = (await app.client.vmResources()).filter((r) => r.tags.includes(owner) && !r.template);
    const marked: MarkedVm[] = [];
    for (const vm of tagged) {
      try {
        marked.push({ vm, config: (await app.client.getConfig(vm.node, vm.vmid)).values });
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err; // gone since the listing
      }
    }
    const verdicts = planRecovery(load.workers, app.store.listWorkers(), marked, isoNow(app.clock));
    const toRecover = verdicts.filter((v) => v.kind === 'recover');
    const ambiguous = verdicts.filter((v) => v.kind === 'ambiguous');
    if (flags.yes) for (const v of toRecover) await app.store.seedWorker(v.record);
    const data = {
      result: flags.yes ? 'recovered' : 'would-recover',
      verdicts: verdicts.map((v) =>
        v.kind === 'recover'
          ? { worker: v.worker, kind: v.kind, vmid: v.vm.vmid, node: v.vm.node, uid: v.uid }
          : v,
      ),
    };
    if (!printStructured(flags.output, data)) {
      process.stdout.write(verdictTable(verdicts) + '\n');
      if (toRecover.length === 0) process.stdout.write('nothing to recover\n');
      else if (flags.yes)
        process.stdout.write(
          `recovered ${toRecover.length} record(s) into ${app.stateDir}; \`workerctl plan\` shows what apply would still change\n`,
        );
      else
        process.stdout.write(
          `${toRecover.length} record(s) would be rebuilt; nothing was written: run again with --yes\n`,
        );
    }
    if (ambiguous.length > 0) {
      process.stderr.write(
        `refused ${ambiguous.length} ambiguous worker(s): ${safeLine(ambiguous.map((v) => v.worker).join(', '))}\n`,
      );
      return 1;
    }
    return toRecover.length > 0 && !flags.yes ? 2 : 0;
  } finally {
    await app.close();
  }
}

function verdictTable(verdicts: readonly RecoveryVerdict[]): string {
  const table = new Table({
    head: ['worker', 'vm', 'verdict'],
    style: { head: [], border: [] },
    colWidths: [24, 14, 40],
    wordWrap: true,
  });
  for (const v of verdicts) {
    switch (v.kind) {
      case 'recover':
        table.push([v.worker, `${v.vm.vmid} on ${v.vm.node}`, 'recover: tag and marker match'].map(safeLine));
        break;
      case 'recorded':
        table.push([v.worker, String(v.vmid), 'already recorded'].map(safeLine));
        break;
      default:
        table.push([v.worker ?? '-', v.vmids.join(', '), `${v.kind}: ${v.reason}`].map(safeLine));
    }
  }
  return table.toString();
}
