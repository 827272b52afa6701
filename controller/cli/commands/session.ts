/**
 * `workerctl session start|end|list|renew`: sessions through the running controller's API.
 * `start` waits until a worker is Working and prints its name, address and the session id.
 */
import type { Command } from 'commander';
import Table from 'cli-table3';
import { UsageError } from '../../errors.js';
import { apiClient, withApiOptions, type ApiOptions } from './api-options.js';
import { examples } from '../help.js';
import { outputOption, printStructured } from '../output.js';

interface StartOptions extends ApiOptions {
  host: string;
  tasks: string;
  kind: string;
  lease?: string;
  wait?: string;
  output: string;
}

function positiveInt(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag}: '${v}' is not a positive integer`);
  return n;
}

export function register(program: Command): void {
  const session = program
    .command('session')
    .description('start, list, renew and end sessions (a job needs a worker)')
    .addHelpText(
      'after',
      examples([
        [
          'workerctl session start --host pve1 --tasks 2 --lease 30m',
          'a Working worker for a backup on pve1',
        ],
        ['workerctl session list', 'the open sessions'],
        ['workerctl session end s-0123456789ab --reason "backup done"', 'its worker shuts down when idle'],
      ]),
    );

  withApiOptions(
    session
      .command('start')
      .description('get a Working worker for a backup or restore on a host')
      .requiredOption('--host <node>', 'the Proxmox node the job runs on')
      .option('--tasks <n>', 'task slots the job needs', '1')
      .option('--kind <kind>', 'backup or restore', 'backup')
      .option('--lease <duration>', 'lease length, renewed with `session renew` (e.g. 15m)')
      .option('--wait <duration>', 'wait this long for a usable worker (e.g. 2m)')
      .addOption(outputOption())
      .addHelpText(
        'after',
        examples([
          ['workerctl session start --host pve1', 'one task slot, a backup, the default lease'],
          ['workerctl session start --host pve2 --kind restore --tasks 4 --wait 2m -o json', 'for a script'],
        ]),
      ),
  ).action(async (opts: StartOptions) => {
    if (opts.kind !== 'backup' && opts.kind !== 'restore') {
      throw new UsageError(`--kind: '${opts.kind}' must be backup or restore`);
    }
    const grant = await apiClient(opts).startSession({
      host: opts.host,
      tasks: positiveInt('--tasks', opts.tasks),
      kind: opts.kind,
      ...(opts.lease ? { lease: opts.lease } : {}),
      ...(opts.wait ? { wait: opts.wait } : {}),
    });
    if (printStructured(opts.output, grant)) return;
    const where = grant.fallback
      ? ` (fallback: on ${grant.node ?? 'another host'}, asked for ${opts.host})`
      : '';
    process.stdout.write(
      `session ${grant.session.id} started: worker ${grant.worker}` +
        `${grant.address ? ` at ${grant.address}` : ''}${where}, lease until ${grant.session.leaseExpiresAt}\n`,
    );
  });

  withApiOptions(
    session
      .command('end')
      .argument('<id>', 'the session id')
      .description('end a session; its worker shuts down when it serves no other session')
      .option('--reason <text>', 'why, recorded in the worker history')
      .addOption(outputOption())
      .addHelpText('after', examples([['workerctl session end s-0123456789ab --reason done', 'end it']])),
  ).action(async (id: string, opts: ApiOptions & { reason?: string; output: string }) => {
    const ended = await apiClient(opts).endSession(id, opts.reason);
    if (!printStructured(opts.output, ended)) process.stdout.write(`session ${id} ended\n`);
  });

  withApiOptions(
    session
      .command('renew')
      .argument('<id>', 'the session id')
      .description("extend a session's lease")
      .option('--lease <duration>', 'new lease length (default: the session’s own)')
      .addOption(outputOption())
      .addHelpText('after', examples([['workerctl session renew s-0123456789ab --lease 30m', 'extend it']])),
  ).action(async (id: string, opts: ApiOptions & { lease?: string; output: string }) => {
    const s = await apiClient(opts).renewSession(id, opts.lease);
    if (!printStructured(opts.output, s))
      process.stdout.write(`session ${id} renewed: lease until ${s.leaseExpiresAt}\n`);
  });

  withApiOptions(
    session
      .command('list')
      .description('list open sessions')
      .addOption(outputOption())
      .addHelpText(
        'after',
        examples([['workerctl session list -o yaml', 'every open session, every field']]),
      ),
  ).action(async (opts: ApiOptions & { output: string }) => {
    const sessions = await apiClient(opts).sessions();
    if (printStructured(opts.output, { sessions })) return;
    if (sessions.length === 0) {
      process.stdout.write('no open sessions\n');
      return;
    }
    const table = new Table({
      head: ['id', 'worker', 'host', 'kind', 'tasks', 'state', 'address', 'lease until'],
      style: { head: [], border: [] },
    });
    for (const s of sessions) {
      table.push([
        s.id,
        s.worker + (s.fallback ? ' (fallback)' : ''),
        s.host,
        s.kind,
        String(s.tasks),
        s.state,
        s.address ?? '',
        s.leaseExpiresAt,
      ]);
    }
    process.stdout.write(table.toString() + '\n');
  });
}
