/** `workerctl simulator`: runs the Proxmox VE API simulator until SIGINT/SIGTERM. */
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { createLogger } from '../../log.js';
import { logFormatOption } from '../command-support.js';
import { startSimulator } from '../../simulator/index.js';
import { examples } from '../help.js';
import { outputOption, structured } from '../output.js';

interface SimulatorCliOptions {
  port: string;
  host: string;
  world?: string;
  tls?: boolean;
  token?: string;
  password?: string;
  latency: string;
  timeScale: string;
  seed: string;
  resourcesLag?: boolean;
  assumptions?: boolean;
  authDelay: string;
  output: string;
  logFormat?: 'json' | 'text';
}

function intOption(name: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < min)
    throw new UsageError(`--${name}: expected a number >= ${min}, got '${value}'`);
  return n;
}

export function register(program: Command): void {
  program
    .command('simulator')
    .description('run a simulated Proxmox VE API (for tests, demos and benchmarks)')
    .option('-p, --port <port>', 'TCP port (0 = any free port)', '8006')
    .option('--host <address>', 'address to bind', '127.0.0.1')
    .option('--world <file>', 'YAML world file (default: three nodes, template 9000)')
    .option('--tls', 'serve HTTPS with a fresh self-signed certificate')
    .option('--token <token>', 'accepted API token USER@REALM!TOKENID=SECRET (generated when absent)')
    .option('--password <password>', 'root@pam password for ticket logins (generated when absent)')
    .option('--latency <profile>', 'fast or realistic', 'fast')
    .option('--time-scale <n>', 'simulated ms per real ms', '1')
    .option('--seed <n>', 'random seed', '1')
    .option(
      '--resources-lag',
      '/cluster/resources lags like pvestatd (the default; the world file can turn it off)',
    )
    .option('--no-resources-lag', '/cluster/resources shows every change at once')
    .option('--no-assumptions', 'switch off the models no Proxmox source grounds (README section simulator)')
    .option('--auth-delay <ms>', 'delay of 401 answers in ms', '50')
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples([
        ['workerctl simulator --port 8006 --tls', 'prints URL, token, root@pam password and TLS fingerprint'],
        [
          'workerctl simulator --port 0 --latency realistic --time-scale 100 -o json',
          'one JSON line, for scripts',
        ],
      ]),
    )
    .addOption(logFormatOption())
    .action(async (opts: SimulatorCliOptions) => {
      if (opts.latency !== 'fast' && opts.latency !== 'realistic')
        throw new UsageError(`--latency: expected fast or realistic, got '${opts.latency}'`);
      const running = await startSimulator({
        world: opts.world,
        host: opts.host,
        port: intOption('port', opts.port, 0),
        tls: opts.tls,
        token: opts.token,
        users: opts.password ? { 'root@pam': opts.password } : undefined,
        latency: opts.latency,
        timeScale: intOption('time-scale', opts.timeScale, 0.000001),
        seed: intOption('seed', opts.seed, 0),
        resourcesLag: opts.resourcesLag,
        assumptions: opts.assumptions === false ? false : undefined, // else the world file decides
        authFailureDelayMs: intOption('auth-delay', opts.authDelay, 0),
        logger: createLogger({ level: process.env.WORKERCTL_LOG_LEVEL ?? 'warn', format: opts.logFormat }),
      });
      const info = {
        url: running.url,
        api: `${running.url}/api2/json`,
        token: running.token,
        password: running.password,
        fingerprint: running.fingerprint,
      };
      // the simulator prints its own throwaway credentials: that is its purpose
      // One JSON line (scripts read the first line while the simulator keeps running).
      if (opts.output === 'json') process.stdout.write(JSON.stringify(info) + '\n');
      else if (opts.output === 'yaml') process.stdout.write(structured('yaml', info)!);
      else {
        process.stdout.write(`simulator listening on ${info.url} (API ${info.api})\n`);
        process.stdout.write(`token: ${info.token}\n`);
        process.stdout.write(`root@pam password: ${info.password}\n`);
        if (info.fingerprint) process.stdout.write(`fingerprint: ${info.fingerprint}\n`);
      }
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await running.close();
    });
}
