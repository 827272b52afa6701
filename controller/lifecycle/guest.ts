/**
 * Talking to a worker through the QEMU guest agent, always bounded: waiting for the agent after boot,
 * and running a command and waiting for it to exit. A guest that never answers gives WaitTimeoutError,
 * never a hang.
 */
import type { Clock } from '../clock.js';
import { WaitTimeoutError, errorMessage } from '../errors.js';
import type { ProxmoxClient } from '../proxmox/client.js';

/** The agent calls the lifecycle needs (a narrow view of ProxmoxClient). */
export type GuestAgentClient = Pick<
  ProxmoxClient,
  'agentPing' | 'agentNetworkInterfaces' | 'agentExec' | 'agentExecStatus'
>;

export interface WaitForAgentOptions {
  clock: Clock;
  /** Give up after this long (default 180 s: the guide's first boot with cloud-init takes up to 60 s). */
  timeoutMs?: number;
  /** Between the first two pings (default 2 s); grows by half each time up to maxIntervalMs. */
  intervalMs?: number;
  /** The longest pause between pings (default 10 s). */
  maxIntervalMs?: number;
  signal?: AbortSignal;
}

/**
 * Polls agent/ping until it answers. Resolves to the time waited; WaitTimeoutError after timeoutMs.
 * A silent agent answers only after guest-ping's 3 s timeout and holds one of its node's 3 pvedaemon
 * workers meanwhile (qemu-server PVE/QemuServer/Agent.pm agent_cmd; pve-manager
 * PVE/Service/pvedaemon.pm), so pings are spaced out more the longer a guest takes to boot (and the
 * client's node budget lets one agent call per node run at a time: proxmox/node-budget.ts).
 */
export async function waitForAgent(
  client: GuestAgentClient,
  node: string,
  vmid: number,
  opts: WaitForAgentOptions,
): Promise<number> {
  const { clock } = opts;
  const timeoutMs = opts.timeoutMs ?? 180_000;
  let intervalMs = opts.intervalMs ?? 2_000;
  const maxIntervalMs = Math.max(intervalMs, opts.maxIntervalMs ?? 10_000);
  const start = clock.now();
  let last = 'no answer yet';
  for (;;) {
    opts.signal?.throwIfAborted();
    try {
      await client.agentPing(node, vmid);
      return clock.now() - start;
    } catch (err) {
      // "QEMU guest agent is not running" and QMP timeouts are "not ready yet" (qemu-server
      // PVE/QemuServer/Agent.pm agent_available, agent_cmd).
      last = errorMessage(err);
    }
    const left = timeoutMs - (clock.now() - start);
    if (left <= 0) {
      throw new WaitTimeoutError(
        `guest agent of vm ${vmid} on ${node} did not answer within ${Math.round(timeoutMs / 1000)} s: ${last}`,
      );
    }
    await clock.sleep(Math.min(intervalMs, left), opts.signal);
    intervalMs = Math.min(maxIntervalMs, Math.round(intervalMs * 1.5));
  }
}

export interface ExecOptions {
  clock: Clock;
  /** Written to the command's stdin (secrets go here, never in the argument list). */
  inputData?: string;
  /** Give up waiting after this long (default 600 s). The command may keep running in the guest. */
  timeoutMs?: number;
  /** First poll interval; doubles up to 20 times that (default 100 ms, so up to 2 s). */
  pollMs?: number;
  signal?: AbortSignal;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
}

/** Runs a command in the guest and waits for it to exit. */
export async function guestExec(
  client: GuestAgentClient,
  node: string,
  vmid: number,
  command: string[],
  opts: ExecOptions,
): Promise<ExecResult> {
  const { clock } = opts;
  const timeoutMs = opts.timeoutMs ?? 600_000;
  let pollMs = opts.pollMs ?? 100;
  const maxPollMs = pollMs * 20;
  const start = clock.now();
  const pid = await client.agentExec(node, vmid, command, opts.inputData);
  for (;;) {
    opts.signal?.throwIfAborted();
    const st = await client.agentExecStatus(node, vmid, pid);
    if (st.exited) {
      return {
        exitCode: st.exitCode ?? (st.signal !== undefined ? 128 + st.signal : 0),
        stdout: st.outData ?? '',
        stderr: st.errData ?? '',
        durationMs: clock.now() - start,
      };
    }
    const left = timeoutMs - (clock.now() - start);
    if (left <= 0) {
      throw new WaitTimeoutError(
        `command ${command[0] ?? ''} in vm ${vmid} did not finish within ${Math.round(timeoutMs / 1000)} s`,
      );
    }
    await clock.sleep(Math.min(pollMs, left), opts.signal);
    pollMs = Math.min(pollMs * 2, maxPollMs);
  }
}

/** The last `max` characters of a command's output, for a check's excerpt. */
export function excerpt(text: string, max = 400): string {
  const t = text.trim();
  return t.length <= max ? t : '...' + t.slice(t.length - max);
}
