/**
 * How tests and sessions make a worker's VM exist and run. The lifecycle calls these with the
 * worker's lock held (lifecycle/mutex.ts), so implementations must not take that lock themselves.
 *
 * Deploying (clone + configure + resize, with intents) is the reconcile core's job: it is passed in
 * as `deploy`. Power on and off are simple enough to do here, each with its intent written first
 * (invariant 4).
 */
import type { Clock } from '../clock.js';
import { isoNow } from '../clock.js';
import { WorkerctlError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ProxmoxClient } from '../proxmox/client.js';
import type { Store } from '../store/store.js';
import type { Intent, WorkerRecord } from '../types.js';
import { withHistory } from './phases.js';

/** Where a worker's VM is. */
export interface VmLocation {
  node: string;
  vmid: number;
}

/** What the lifecycle needs done to a worker's VM. */
export interface WorkerPower {
  /** Makes sure the VM exists (deploys an OnDemand worker), and says where it is. */
  ensureDeployed(name: string, cause: string, signal?: AbortSignal): Promise<VmLocation>;
  /** Powers the VM on and waits for the start task (not for the guest). */
  powerOn(name: string, cause: string, signal?: AbortSignal): Promise<void>;
  /** Shuts the VM down (graceful, then hard after the timeout) and waits. */
  powerOff(name: string, cause: string, signal?: AbortSignal): Promise<void>;
}

/** The worker has no VM and none can be deployed here. */
export class NotDeployedError extends WorkerctlError {}

/** Deploys a worker's VM: the reconcile core's clone + configure + resize. */
export type DeployFn = (name: string, signal?: AbortSignal) => Promise<VmLocation>;

export interface PowerDeps {
  client: Pick<ProxmoxClient, 'status' | 'start' | 'shutdown' | 'waitForTask'>;
  store: Store;
  clock: Clock;
  logger: Logger;
  /** Deploys a missing VM; without it, a worker without VM cannot be tested or used. */
  deploy?: DeployFn;
  shutdownTimeoutSec: number;
}

function location(rec: WorkerRecord | undefined): VmLocation | undefined {
  const vmid = rec?.vmid ?? rec?.status.vmid;
  const node = rec?.node ?? rec?.status.node ?? rec?.spec.host;
  return vmid !== undefined && node ? { node, vmid } : undefined;
}

/** WorkerPower on the Proxmox client, deploying through the reconcile core. */
export function createWorkerPower(deps: PowerDeps): WorkerPower {
  const { client, store, clock, logger } = deps;

  async function withIntent(name: string, op: Intent['op'], loc: VmLocation, fn: () => Promise<void>) {
    const rec = store.getWorker(name);
    if (rec) await store.saveWorker({ ...rec, intent: { op, ...loc, startedAt: isoNow(clock) } });
    await fn();
    const after = store.getWorker(name);
    if (after?.intent?.op === op) await store.saveWorker({ ...after, intent: undefined });
  }

  function record(name: string, action: string, cause: string) {
    const rec = store.getWorker(name);
    if (rec) store.saveStatus(name, withHistory(rec.status, isoNow(clock), action, cause));
  }

  function locate(name: string): VmLocation {
    const loc = location(store.getWorker(name));
    if (!loc) throw new NotDeployedError(`worker ${name} has no vm`);
    return loc;
  }

  return {
    async ensureDeployed(name, cause, signal) {
      const loc = location(store.getWorker(name));
      if (loc) return loc;
      if (!deps.deploy) throw new NotDeployedError(`worker ${name} has no vm and no deployer is configured`);
      const out = await deps.deploy(name, signal);
      record(name, 'deployed', cause);
      logger.info('worker deployed', { worker: name, vmid: out.vmid, node: out.node });
      return out;
    },

    async powerOn(name, cause, signal) {
      const loc = locate(name);
      const st = await client.status(loc.node, loc.vmid);
      if (st.status === 'running') return;
      await withIntent(name, 'start', loc, async () => {
        const task = await client.start(loc.node, loc.vmid);
        await client.waitForTask(task, { signal });
      });
      record(name, 'powered on', cause);
      logger.info('worker powered on', { worker: name, vmid: loc.vmid, node: loc.node });
    },

    async powerOff(name, cause, signal) {
      const loc = locate(name);
      const st = await client.status(loc.node, loc.vmid);
      if (st.status === 'stopped') return;
      await withIntent(name, 'shutdown', loc, async () => {
        const task = await client.shutdown(loc.node, loc.vmid, {
          timeout: deps.shutdownTimeoutSec,
          forceStop: true,
        });
        await client.waitForTask(task, { signal });
      });
      record(name, 'powered off', cause);
      logger.info('worker powered off', { worker: name, vmid: loc.vmid, node: loc.node });
    },
  };
}
