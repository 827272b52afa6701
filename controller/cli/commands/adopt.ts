/**
 * `workerctl adopt NAME --vmid N -f DIR`: takes an existing VM under management as the declared
 * worker NAME, explicitly (never automatically: invariant 3). It first shows what it would do (the
 * owner tag and marker it writes) and what `apply` would then change; only with --yes does it write
 * them (reconcile/execute/adopt.ts), under an intent. Refused when the VM is a template, locked,
 * another worker's, marked for another worker, ambiguous (another VM with the name), or when
 * adopting it would redeploy it (another node or storage than the manifest says).
 * Exit: 0 adopted (or already), 2 it would adopt (without --yes), 1 refused or an error.
 */
import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { openApp } from '../../compose/app.js';
import { UsageError } from '../../errors.js';
import type { PlannedAction } from '../../reconcile/contracts.js';
import { adoptionMarks, checkAdoption } from '../../reconcile/takeover.js';
import { WorkerRun } from '../../reconcile/worker-run.js';
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
import { planInWords } from '../present/plan-output.js';
import { interruptible } from '../signals.js';
import { safeLine, safeText } from '../../terminal-text.js';

type AdoptFlags = ConvergeFlags & ConnectionOptions & { vmid: number; yes?: boolean; output: string };

export function register(program: Command): void {
  const cmd = program
    .command('adopt')
    .argument('<name>', 'the worker (declared in the manifests) the vm becomes')
    .description(
      'take an existing vm under management as a declared worker (shows the plan; acts with --yes)',
    )
    .requiredOption('--vmid <n>', 'the vm to adopt', (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 100) throw new UsageError(`--vmid: '${v}' is not a vmid (100 or more)`);
      return n;
    })
    .option('--yes', 'adopt it (without: only show what would be done)')
    .addOption(outputOption());
  addConvergeOptions(cmd, { massDelete: false });
  addConnectionOptions(cmd);
  cmd.addHelpText(
    'after',
    examples([
      [
        'workerctl adopt pve1-worker-03 --vmid 150 -f workers/ --server https://pve1:8006 --token-file t',
        'what it would do',
      ],
      [
        'workerctl adopt pve1-worker-03 --vmid 150 -f workers/ --server ... --yes',
        'do it; then apply converges the vm',
      ],
    ]),
  );
  cmd.action(async (name: string, flags: AdoptFlags) => {
    process.exitCode = await runAdopt(name, flags);
  });
}

async function runAdopt(name: string, flags: AdoptFlags): Promise<number> {
  const paths = manifestPaths(flags);
  return interruptible('adopt', flags.grace, (signal) => adopt(name, flags, paths, signal));
}

async function adopt(name: string, flags: AdoptFlags, paths: string[], signal: AbortSignal): Promise<number> {
  const load = await validManifests(paths, 'adopt');
  if (!load) return 1;
  const worker = load.workers.find((w) => w.spec.name === name);
  if (!worker) throw new UsageError(`adopt: no manifest under ${paths.join(', ')} declares worker ${name}`);
  const settings = settingsFrom(flags);
  // The uid the marker carries: the record's, or the one the new record will get.
  let uid: string = randomUUID();
  const app = await openApp({
    connection: flags,
    settings,
    logger: commandLogger(flags, 'warn'),
    readOnly: !flags.yes,
    simulator: simulatorFrom(flags),
    core: { newUid: () => uid },
  });
  try {
    const record = app.store.getWorker(name);
    uid = record?.uid ?? uid;
    const resources = await app.client.vmResources();
    const vm = resources.find((r) => r.vmid === flags.vmid);
    if (!vm) throw new UsageError(`adopt: there is no vm ${flags.vmid} in the cluster`);
    const config = (await app.client.getConfig(vm.node, vm.vmid)).values;
    const check = checkAdoption({
      worker,
      record,
      records: app.store.listWorkers(),
      vm,
      config,
      resources,
      ownerTag: settings.ownerTag,
      uid,
    });
    const marks = adoptionMarks(config, name, uid, settings.ownerTag);
    const result = {
      worker: name,
      vmid: vm.vmid,
      node: vm.node,
      vmName: vm.name ?? null,
      result: check.done
        ? 'already'
        : check.refusals.length
          ? 'refused'
          : flags.yes
            ? 'adopted'
            : 'would-adopt',
      refusals: check.refusals,
      marks,
      then: check.after,
    };
    const show = (text: string) => {
      // The VM's name and tags come from Proxmox: shown escaped.
      if (flags.output === 'table') process.stdout.write(safeText(text));
    };
    if (check.done) {
      printStructured(flags.output, result);
      show(`vm ${vm.vmid} already is worker ${name}'s; nothing to do\n`);
      return 0;
    }
    show(describe(name, vm.vmid, vm.node, vm.name, config.tags, marks.tags, check.after));
    if (check.refusals.length > 0) {
      printStructured(flags.output, result);
      process.stderr.write(`adopt refused:\n${check.refusals.map((r) => `  ${safeLine(r)}`).join('\n')}\n`);
      return 1;
    }
    if (!flags.yes) {
      printStructured(flags.output, result);
      show('\nnothing was changed; run again with --yes to adopt it\n');
      return 2;
    }
    await app.core.applyDesired(load, { only: new Set([name]) });
    const rec = app.store.getWorker(name)!;
    const run = new WorkerRun(rec, app.store, app.clock, app.logger.child({ worker: name }));
    await app.core.executor.adopt(run, { vm, signal });
    printStructured(flags.output, result);
    show(
      `\nadopted: vm ${vm.vmid} is worker ${name}'s; \`workerctl apply\` (or the controller) makes the changes above\n`,
    );
    return 0;
  } finally {
    await app.close();
  }
}

function describe(
  name: string,
  vmid: number,
  node: string,
  vmName: string | undefined,
  tagsBefore: string | undefined,
  tagsAfter: string,
  then: readonly PlannedAction[],
): string {
  const lines = [
    safeLine(`adopt vm ${vmid} (${vmName ?? 'no name'} on ${node}) as worker ${name}:`),
    safeLine(
      `  tags ${tagsBefore || '(none)'} -> ${tagsAfter}; the workerctl marker added to its description`,
    ),
  ];
  if (then.length === 0) lines.push('then apply would change nothing');
  else lines.push('then apply would:', planInWords({ actions: [...then], converged: false }));
  return lines.join('\n') + '\n';
}
