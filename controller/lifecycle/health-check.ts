/**
 * The worker health check of the guide, through the guest agent, on a worker that is powered on:
 * the agent answers; the first network has its address (static or a DHCP lease); the Proxmox host
 * and the backup server are reachable; then the update step, when updates are enabled. Each check's
 * result, duration and an output excerpt are recorded; the first failure stops the rest.
 */
import { errorMessage } from '../errors.js';
import { redactText } from '../redact.js';
import type { CheckResult, WorkerRecord } from '../types.js';
import type { LifecycleDeps } from './bring-up.js';
import { excerpt, guestExec, waitForAgent } from './guest.js';
import { setPhase } from './state.js';
import { updateInvocation } from './updates.js';
import type { VmLocation } from './worker-core.js';

/** Names of the checks, in order. */
export const CHECKS = ['agent', 'network', 'proxmox-host', 'backup-server', 'updates'] as const;
export type CheckName = (typeof CHECKS)[number] | 'deploy' | 'power-on';

/** Condition reason for a failed check, e.g. network -> NetworkCheckFailed. */
export function failureReason(check: string): string {
  const camel = check
    .split('-')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
  return `${camel}CheckFailed`;
}

function ipOf(cidr: string): { ip: string; prefix?: number } {
  const [ip, p] = cidr.split('/');
  return { ip: ip ?? '', prefix: p !== undefined ? Number(p) : undefined };
}

interface CheckOutcome {
  ok: boolean;
  output: string;
  address?: string;
}

/** Runs the checks and the update step; stops at the first failure. Lock held by the caller. */
export async function runChecks(
  deps: LifecycleDeps,
  rec: WorkerRecord,
  loc: VmLocation,
  checks: CheckResult[],
  purpose: string,
  signal?: AbortSignal,
): Promise<{ ok: boolean; address?: string }> {
  const { client, clock, settings } = deps;
  const { node, vmid } = loc;
  let address: string | undefined;

  async function check(name: CheckName, fn: () => Promise<CheckOutcome>): Promise<boolean> {
    const start = clock.now();
    let out: CheckOutcome;
    try {
      out = await fn();
    } catch (err) {
      out = { ok: false, output: errorMessage(err) };
    }
    checks.push({
      name,
      ok: out.ok,
      durationMs: clock.now() - start,
      output: redactText(excerpt(out.output)),
    });
    if (out.address) address = out.address;
    return out.ok;
  }

  const ping = async (target: string): Promise<CheckOutcome> => {
    const cmd = settings.pingCommand.map((a) => a.replaceAll('{target}', target));
    const r = await guestExec(client, node, vmid, cmd, {
      clock,
      timeoutMs: settings.checkTimeoutMs,
      pollMs: settings.execPollMs,
      signal,
    });
    const text = r.stdout + (r.stderr ? '\n' + r.stderr : '');
    return { ok: r.exitCode === 0, output: `${target}: exit ${r.exitCode}${text.trim() ? '\n' + text : ''}` };
  };

  const passed =
    (await check('agent', async () => {
      const waited = await waitForAgent(client, node, vmid, {
        clock,
        timeoutMs: settings.agentTimeoutMs,
        intervalMs: settings.agentPollMs,
        maxIntervalMs: settings.agentPollMaxMs,
        signal,
      });
      return { ok: true, output: `agent answered after ${Math.round(waited / 100) / 10} s` };
    })) &&
    (await check('network', async () => {
      const ifaces = (await client.agentNetworkInterfaces(node, vmid)).filter(
        (i) => i.name !== 'lo' && !i.ipAddresses.some((a) => a.address === '127.0.0.1'),
      );
      const first = ifaces[0];
      if (!first) return { ok: false, output: 'no network interface besides loopback' };
      const v4 = first.ipAddresses.filter((a) => a.type === 'ipv4' && !a.address.startsWith('169.254.'));
      const shown = `${first.name}: ${v4.map((a) => `${a.address}/${a.prefix}`).join(', ') || 'no ipv4 address'}`;
      const want = rec.spec.networks[0]?.ipv4 ?? 'dhcp';
      if (want === 'dhcp') {
        const got = v4[0];
        return got
          ? { ok: true, output: `dhcp lease ${shown}`, address: got.address }
          : { ok: false, output: `no dhcp lease: ${shown}` };
      }
      const { ip, prefix } = ipOf(want.address);
      const hit = v4.find((a) => a.address === ip && (prefix === undefined || a.prefix === prefix));
      return hit
        ? { ok: true, output: `static ${want.address} present on ${shown}`, address: ip }
        : { ok: false, output: `expected ${want.address}, found ${shown}` };
    })) &&
    (await check('proxmox-host', async () => ping(await deps.addresses.of(node)))) &&
    (await check('backup-server', async () =>
      settings.backupServer
        ? ping(settings.backupServer)
        : { ok: true, output: 'skipped: no backup server in the controller settings' },
    ));
  if (!passed) return { ok: false, address };

  if (!rec.spec.updates.enabled) return { ok: true, address };
  setPhase(deps, rec.name, 'Updating', `updates enabled (${purpose})`);
  const updated = await check('updates', async () => {
    const inv = await updateInvocation(
      rec.spec.updates.proxy,
      settings.updateCommand,
      settings.manifestPaths,
    );
    const r = await guestExec(client, node, vmid, inv.command, {
      clock,
      inputData: inv.inputData,
      timeoutMs: settings.updateTimeoutMs,
      pollMs: settings.execPollMs,
      signal,
    });
    const via = inv.proxyDisplay ? ` via proxy ${inv.proxyDisplay}` : '';
    return {
      ok: r.exitCode === 0,
      output: `${settings.updateCommand.join(' ')}${via}: exit ${r.exitCode}\n${r.stdout}${r.stderr ? '\n' + r.stderr : ''}`,
    };
  });
  return { ok: updated, address };
}
