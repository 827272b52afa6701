/**
 * The simulated guest's command table: agent/exec runs the first entry whose regex matches the joined
 * command line. Defaults cover ping (reachability from the world), a dnf/yum update run, `ip -4 addr`,
 * `true`/`false`, `hostname`, `cat /etc/os-release`; anything else exits 127.
 */
import type { GuestCommandResult, GuestCommandSpec } from './world/types.js';

/** What the command table needs to know about the world. */
export interface GuestEnv {
  /** Whether `ip` answers a ping from this guest. */
  reachable(ip: string): boolean;
  /** `ip -4 addr` style listing of the guest's addresses. */
  addresses(): Array<{ name: string; ip: string; prefix: number }>;
  hostname(): string;
  os(): string;
}

/** A computed result (the default entries look at the world). */
export type GuestCommand = (cmd: string, m: RegExpExecArray, env: GuestEnv) => GuestCommandResult;

interface Entry {
  re: RegExp;
  run: GuestCommand;
}

const DEFAULTS: Array<[RegExp, GuestCommand]> = [
  [
    /^(?:\S+=\S+\s+)*(?:\/usr\/bin\/|\/bin\/)?ping\b.*?\s(\S+)\s*$/,
    (_cmd, m, env) => {
      const ip = m[1];
      return env.reachable(ip)
        ? {
            exitCode: 0,
            stdout: `PING ${ip} (${ip}) 56(84) bytes of data.\n64 bytes from ${ip}: icmp_seq=1 ttl=64 time=0.412 ms\n\n--- ${ip} ping statistics ---\n1 packets transmitted, 1 received, 0% packet loss, time 0ms\n`,
            durationKey: 'ping',
          }
        : {
            exitCode: 1,
            stdout: `PING ${ip} (${ip}) 56(84) bytes of data.\n\n--- ${ip} ping statistics ---\n1 packets transmitted, 0 received, 100% packet loss, time 0ms\n`,
            durationKey: 'ping',
          };
    },
  ],
  [
    /\b(dnf|yum)\b.*\b(upgrade|update)\b/,
    () => ({
      exitCode: 0,
      stdout: 'Dependencies resolved.\nUpgraded:\n  openssl-libs-1:3.2.2-6.el9_5.x86_64\n\nComplete!\n',
      durationKey: 'updateRun',
    }),
  ],
  [
    /\bapt(-get)?\b.*\b(upgrade|dist-upgrade)\b/,
    () => ({
      exitCode: 0,
      stdout: '0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n',
      durationKey: 'updateRun',
    }),
  ],
  [
    /^(?:\/usr\/sbin\/|\/sbin\/)?ip\s+(-4\s+)?(-o\s+)?a(ddr)?(\s+show)?\s*$/,
    (_cmd, _m, env) => ({
      exitCode: 0,
      stdout: env
        .addresses()
        .map(
          (a, i) =>
            `${i + 1}: ${a.name}    inet ${a.ip}/${a.prefix} scope ${a.name === 'lo' ? 'host' : 'global'} ${a.name}\n`,
        )
        .join(''),
    }),
  ],
  [/^(\/usr\/bin\/|\/bin\/)?true$/, () => ({ exitCode: 0 })],
  [/^(\/usr\/bin\/|\/bin\/)?false$/, () => ({ exitCode: 1 })],
  [/^(\/usr\/bin\/|\/bin\/)?hostname$/, (_c, _m, env) => ({ exitCode: 0, stdout: `${env.hostname()}\n` })],
  [/^cat \/etc\/os-release$/, (_c, _m, env) => ({ exitCode: 0, stdout: `PRETTY_NAME="${env.os()}"\n` })],
  [/^(\/usr\/bin\/)?systemctl is-system-running$/, () => ({ exitCode: 0, stdout: 'running\n' })],
];

/** The command table (custom entries first, then defaults). */
export class GuestCommands {
  private readonly custom: Entry[] = [];
  private readonly defaults: Entry[] = DEFAULTS.map(([re, run]) => ({ re, run }));

  constructor(specs: GuestCommandSpec[] = []) {
    for (const s of specs) this.set(s.pattern, s);
  }

  /** Adds (or replaces) an entry; later entries win over earlier ones. */
  set(pattern: string, result: GuestCommandResult | GuestCommand): void {
    let re: RegExp;
    try {
      re = new RegExp(pattern);
    } catch (err) {
      throw new Error(`guest command pattern '${pattern}': ${(err as Error).message}`);
    }
    const i = this.custom.findIndex((e) => e.re.source === re.source);
    if (i >= 0) this.custom.splice(i, 1);
    const run: GuestCommand = typeof result === 'function' ? result : () => ({ ...result });
    this.custom.unshift({ re, run });
  }

  /** Runs `command` (argv) in the guest. */
  run(command: string[], env: GuestEnv): GuestCommandResult {
    const line = command.join(' ');
    for (const e of [...this.custom, ...this.defaults]) {
      const m = e.re.exec(line);
      if (m) return e.run(line, m, env);
    }
    return { exitCode: 127, stderr: `bash: ${command[0] ?? ''}: command not found\n` };
  }
}
