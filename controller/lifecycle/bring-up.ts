/**
 * Bringing a worker up for a test or a session, and down again:
 *   deploy if missing -> power on -> the health check (health-check.ts) -> updates when enabled
 *   -> (test) power off, phase ShutDown | (session) phase Working.
 * Each check goes into the last test; a failed test marks the worker Degraded with the failing
 * check as reason, and still powers it off. All of it runs under the worker's lock.
 */
import type { Clock } from '../clock.js';
import { isoNow } from '../clock.js';
import { WaitTimeoutError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { redactText } from '../redact.js';
import type { Store } from '../store/store.js';
import type { CheckResult, TestResult } from '../types.js';
import { UnknownWorkerError, WorkerBusyError } from './errors.js';
import type { GuestAgentClient } from './guest.js';
import { excerpt } from './guest.js';
import { failureReason, runChecks, type CheckName } from './health-check.js';
import type { NodeAddresses } from './node-addresses.js';
import type { LifecycleSettings } from './settings.js';
import { setPhase, testVerdict, updateLifecycle } from './state.js';
import type { VmLocation, WorkerLocks, WorkerPower } from './worker-core.js';

export interface LifecycleDeps {
  client: GuestAgentClient;
  /** The address the proxmox-host check pings for a node (node-addresses.ts). */
  addresses: NodeAddresses;
  store: Store;
  clock: Clock;
  logger: Logger;
  power: WorkerPower;
  locks: WorkerLocks;
  settings: LifecycleSettings;
}

/** Outcome of a bring-up: the test result and, when it passed, the worker's address. */
export interface BringUpResult {
  result: TestResult;
  location?: VmLocation;
  address?: string;
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
  updateLifecycle(deps, name, (lc, current, note) => {
    const next = { ...lc, lastTest: result };
    if (result.ok) {
      next.degraded = testVerdict(current, 'False', 'TestPassed', `test passed (${purpose})`, now);
      delete next.lastError;
      note('test passed', purpose);
    } else {
      const reason = failed ? failureReason(failed.name) : 'TestFailed';
      const message = (
        failed ? `check ${failed.name} failed: ${failed.output}` : (error ?? 'test failed')
      ).slice(0, 500);
      next.degraded = testVerdict(current, 'True', reason, message, now);
      next.lastError = message;
      note(`test failed at ${failed?.name ?? 'start'}`, purpose);
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
      updateLifecycle(deps, name, (lc) => ({ ...lc, lastError: redactText(errorMessage(err)) }));
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
