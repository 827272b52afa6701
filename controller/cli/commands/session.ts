/**
 * `workerctl session start|end|list|renew`: sessions through the running controller's API.
 * `start` waits until a worker is Working and prints its name, address and the session id.
 */
import type { Command } from 'commander';
import Table from 'cli-table3';
import { UsageError } from '../../errors.js';
import { apiClient, withApiOptions, type ApiOptions } from './api-options.js';

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
    .description('start, list, renew and end sessions (a job needs a worker)');

  withApiOptions(
    session
      .command('start')
      .description('get a Working worker for a backup or restore on a host')
      .requiredOption('--host <node>', 'the Proxmox node the job runs on')
      .option('--tasks <n>', 'task slots the job needs', '1')
      .option('--kind <kind>', 'backup or restore', 'backup')
      .option('--lease <duration>', 'lease length, renewed with `session renew` (e.g. 15m)')
      .option('--wait <duration>', 'wait this long for a usable worker (e.g. 2m)')
      .option('-o, --output <format>', 'text or json', 'text'),
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
    if (opts.output === 'json') {
      process.stdout.write(JSON.stringify(grant, null, 2) + '\n');
      return;
    }
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
      .option('--reason <text>', 'why, recorded in the worker history'),
  ).action(async (id: string, opts: ApiOptions & { reason?: string }) => {
    await apiClient(opts).endSession(id, opts.reason);
    process.stdout.write(`session ${id} ended\n`);
  });

  withApiOptions(
    session
      .command('renew')
      .argument('<id>', 'the session id')
      .description("extend a session's lease")
      .option('--lease <duration>', 'new lease length (default: the session’s own)'),
  ).action(async (id: string, opts: ApiOptions & { lease?: string }) => {
    const s = await apiClient(opts).renewSession(id, opts.lease);
    process.stdout.write(`session ${id} renewed: lease until ${s.leaseExpiresAt}\n`);
  });

  withApiOptions(
    session
      .command('list')
      .description('list open sessions')
      .option('-o, --output <format>', 'text or json', 'text'),
  ).action(async (opts: ApiOptions & { output: string }) => {
    const sessions = await apiClient(opts).sessions();
    if (opts.output === 'json') {
      process.stdout.write(JSON.stringify({ sessions }, null, 2) + '\n');
      return;
    }
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
