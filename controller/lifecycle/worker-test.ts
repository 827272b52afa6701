/**
 * The worker test of the guide, and the bring-up a session start shares with it:
 *   deploy if missing -> power on -> wait for the guest agent (bounded) -> checks through the agent
 *   (agent answers; first network has its address; Proxmox host and backup server reachable)
 *   -> updates when enabled -> (test) power off, phase ShutDown | (session) phase Working.
 * Each check's result, duration and an output excerpt go into status.lastTest. A failed test marks
 * the worker Degraded with the failing check as reason, and still powers it off.
 */
import type { Clock } from '../clock.js';
import { isoNow } from '../clock.js';
import { WaitTimeoutError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import type { CheckResult, Phase, TestResult, WorkerRecord, WorkerStatus } from '../types.js';
import { redactText } from '../redact.js';
import { UnknownWorkerError, WorkerBusyError } from './errors.js';
import type { GuestAgentClient } from './guest.js';
import { excerpt, guestExec, waitForAgent } from './guest.js';
import { setCondition, transition, withHistory } from './phases.js';
import type { VmLocation, WorkerLocks, WorkerPower } from './worker-core.js';
import type { LifecycleSettings } from './settings.js';
import { updateInvocation } from './updates.js';

export interface LifecycleDeps {
  client: GuestAgentClient;
  store: Store;
  clock: Clock;
  logger: Logger;
  power: WorkerPower;
  locks: WorkerLocks;
  settings: LifecycleSettings;
}

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

/** Reads, changes and saves a worker's status (read fresh every time: others write it too). */
export function updateStatus(
  store: Store,
  name: string,
  fn: (s: WorkerStatus) => WorkerStatus,
): WorkerStatus {
  const rec = store.getWorker(name);
  if (!rec) throw new UnknownWorkerError(`unknown worker ${name}`);
  const next = fn(rec.status);
  store.saveStatus(name, next);
  return next;
}

/** Moves a worker to a phase (a no-op when it is already there), recording the cause. */
export function setPhase(
  deps: Pick<LifecycleDeps, 'store' | 'clock'>,
  name: string,
  to: Phase,
  cause: string,
) {
  updateStatus(deps.store, name, (s) => transition(s, to, cause, isoNow(deps.clock)));
}

/** Outcome of a bring-up: the test result and, when it passed, the worker's address. */
export interface BringUpResult {
  result: TestResult;
  location?: VmLocation;
  address?: string;
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
async function runChecks(
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
    (await check('proxmox-host', () => ping(settings.hostAddresses[node] ?? node))) &&
    (await check('backup-server', async () =>
      settings.backupServer
        ? ping(settings.backupServer)
        : { ok: true, output: 'skipped: no backup server in the controller settings' },
    ));
  if (!passed) return { ok: false, address };

  if (!rec.spec.updates.enabled) return { ok: true, address };
  setPhase(deps, rec.name, 'Updating', `updates enabled (${purpose})`);
  const updated = await check('updates', async () => {
    const inv = await updateInvocation(rec.spec.updates.proxy, settings.updateCommand);
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

/**
 * Deploys if needed, powers on and runs the checks and updates. Leaves the VM running and the phase
 * at Testing/Updating; the caller decides what comes next. Records lastTest and Degraded. The
 * worker's lock must be held by the caller.
 */
export async function bringUp(
  deps: LifecycleDeps,
  name: string,
  purpose: string,
  signal?: AbortSignal,
): Promise<BringUpResult> {
  const { store, clock, power, logger } = deps;
  const rec = store.getWorker(name);
  if (!rec) throw new UnknownWorkerError(`unknown worker ${name}`);
  const started = isoNow(clock);
  const checks: CheckResult[] = [];
  let location: VmLocation | undefined;
  let outcome: { ok: boolean; address?: string } = { ok: false };
  let error: string | undefined;

  setPhase(deps, name, 'Testing', purpose);
  const step = async (stepName: CheckName, fn: () => Promise<void>) => {
    const t0 = clock.now();
    try {
      await fn();
    } catch (err) {
      const msg = redactText(errorMessage(err));
      checks.push({ name: stepName, ok: false, durationMs: clock.now() - t0, output: excerpt(msg) });
      throw err;
    }
  };
  try {
    await step('deploy', async () => {
      location = await power.ensureDeployed(name, purpose, signal);
    });
    await step('power-on', () => power.powerOn(name, purpose, signal));
    const fresh = store.getWorker(name) ?? rec;
    outcome = await runChecks(deps, fresh, location!, checks, purpose, signal);
  } catch (err) {
    // Stopping is not a failed test: leave the record as it is; a restart settles the worker.
    if (signal?.aborted) throw err;
    error = redactText(errorMessage(err));
    if (err instanceof WaitTimeoutError) logger.info('worker test timed out', { worker: name, err });
  }
  const failed = checks.find((c) => !c.ok);
  const result: TestResult = {
    time: started,
    ok: outcome.ok && !failed && !error,
    checks,
    ...(error ? { error } : {}),
  };
  const now = isoNow(clock);
  updateStatus(store, name, (s) => {
    let next: WorkerStatus = {
      ...s,
      lastTest: result,
      ...(location ? { vmid: location.vmid, node: location.node } : {}),
    };
    if (result.ok) {
      next = setCondition(next, 'Degraded', 'False', 'TestPassed', `test passed (${purpose})`, now);
      next = withHistory(next, now, 'test passed', purpose);
    } else {
      const reason = failed ? failureReason(failed.name) : 'TestFailed';
      const message = failed ? `check ${failed.name} failed: ${failed.output}` : (error ?? 'test failed');
      next = setCondition(next, 'Degraded', 'True', reason, message.slice(0, 500), now);
      next = withHistory(next, now, `test failed at ${failed?.name ?? 'start'}`, purpose);
      next.lastError = message.slice(0, 500);
    }
    return next;
  });
  logger.info('worker test finished', { worker: name, ok: result.ok, failed: failed?.name });
  return { result, location, address: outcome.address };
}

/** Powers a worker off after a test or a failed bring-up and sets its resting phase. */
export async function settle(deps: LifecycleDeps, name: string, cause: string, signal?: AbortSignal) {
  const rec = deps.store.getWorker(name);
  if (!rec) return;
  const deployed = (rec.vmid ?? rec.status.vmid) !== undefined;
  if (deployed) {
    try {
      await deps.power.powerOff(name, cause, signal);
    } catch (err) {
      deps.logger.info('worker power off failed', { worker: name, err });
      updateStatus(deps.store, name, (s) => ({ ...s, lastError: redactText(errorMessage(err)) }));
    }
  }
  setPhase(deps, name, deployed ? 'ShutDown' : 'Configured', cause);
}

/**
 * `workerctl test NAME`: bring up, check, update, power off. Refused while the worker serves
 * sessions (a test would interrupt them). Disabled workers can be tested.
 */
export async function testWorker(
  deps: LifecycleDeps,
  name: string,
  signal?: AbortSignal,
): Promise<TestResult> {
  return deps.locks.run(name, async () => {
    const rec = deps.store.getWorker(name);
    if (!rec) throw new UnknownWorkerError(`unknown worker ${name}`);
    if (rec.status.phase === 'Working' || rec.status.sessions.length > 0) {
      throw new WorkerBusyError(
        `worker ${name} is serving ${rec.status.sessions.length} session(s); a test would interrupt them`,
      );
    }
    const { result } = await bringUp(deps, name, 'test requested', signal);
    await settle(deps, name, result.ok ? 'test passed' : 'test failed', signal);
    return result;
  });
}
