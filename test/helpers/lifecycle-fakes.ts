/** Fakes for the lifecycle unit tests: a guest agent, instant power, and a harness over a MemoryStore. */
import type { GuestAgentClient } from '../../controller/lifecycle/guest.js';
import { NodeAddresses } from '../../controller/lifecycle/node-addresses.js';
import { KeyedMutex } from '../../controller/queue/mutex.js';
import type { VmLocation, WorkerPower } from '../../controller/lifecycle/worker-core.js';
import { lifecycleSettings, type LifecycleSettings } from '../../controller/lifecycle/settings.js';
import type { LifecycleDeps } from '../../controller/lifecycle/bring-up.js';
import { silentLogger } from '../../controller/log.js';
import type { GuestExecStatus, GuestInterface } from '../../controller/proxmox/types.js';
import { MemoryStore } from '../../controller/store/memory-store.js';
import type { Store } from '../../controller/store/store.js';
import type { WorkerRecord } from '../../controller/types.js';
import { FakeClock } from './clock.js';

export { lifecycleRecord as record, workerSpec as spec } from './builders.js';

/** A guest agent per vmid: up or not, its interfaces, and exec answers by command pattern. */
export class FakeGuest implements GuestAgentClient {
  agentUp = new Set<number>();
  /** vmids whose agent never answers. */
  agentDead = new Set<number>();
  interfaces = new Map<number, GuestInterface[]>();
  /** First match wins: [pattern over the joined command, exit code, output]. */
  execRules: [RegExp, number, string][] = [];
  execs: { vmid: number; command: string[]; inputData?: string }[] = [];
  #pids = new Map<number, GuestExecStatus>();
  #next = 1;

  async agentPing(_node: string, vmid: number): Promise<void> {
    if (!this.agentUp.has(vmid) || this.agentDead.has(vmid))
      throw new Error('QEMU guest agent is not running');
  }
  async agentNetworkInterfaces(_node: string, vmid: number): Promise<GuestInterface[]> {
    return (
      this.interfaces.get(vmid) ?? [
        { name: 'lo', ipAddresses: [{ address: '127.0.0.1', prefix: 8, type: 'ipv4' }] },
        { name: 'eth0', ipAddresses: [{ address: `10.0.0.${vmid % 250}`, prefix: 24, type: 'ipv4' }] },
      ]
    );
  }
  async agentExec(_node: string, vmid: number, command: string[], inputData?: string): Promise<number> {
    this.execs.push({ vmid, command, inputData });
    const line = command.join(' ');
    const rule = this.execRules.find(([re]) => re.test(line));
    const pid = this.#next++;
    this.#pids.set(pid, { exited: true, exitCode: rule ? rule[1] : 0, outData: rule ? rule[2] : 'ok' });
    return pid;
  }
  async agentExecStatus(_node: string, _vmid: number, pid: number): Promise<GuestExecStatus> {
    return this.#pids.get(pid) ?? { exited: true, exitCode: 127 };
  }
}

/** VMs that deploy and power instantly; the guest agent comes up with power. */
export class FakePower implements WorkerPower {
  running = new Set<string>();
  deploys = 0;
  starts = 0;
  stops = 0;
  failDeploy = new Set<string>();
  #nextVmid = 100;
  constructor(
    private store: Store,
    private guest: FakeGuest,
  ) {}
  async ensureDeployed(name: string): Promise<VmLocation> {
    const rec = this.store.getWorker(name)!;
    if (rec.vmid !== undefined) return { node: rec.node ?? rec.spec.host, vmid: rec.vmid };
    if (this.failDeploy.has(name)) throw new Error(`clone failed: template missing for ${name}`);
    this.deploys++;
    const vmid = this.#nextVmid++;
    await this.store.seedWorker({
      ...rec,
      vmid,
      node: rec.spec.host,
      status: { ...rec.status, vmid, node: rec.spec.host },
    });
    return { node: rec.spec.host, vmid };
  }
  async powerOn(name: string): Promise<void> {
    if (this.running.has(name)) return;
    this.starts++;
    this.running.add(name);
    this.guest.agentUp.add(this.store.getWorker(name)!.vmid!);
  }
  async powerOff(name: string): Promise<void> {
    if (!this.running.has(name)) return;
    this.stops++;
    this.running.delete(name);
    this.guest.agentUp.delete(this.store.getWorker(name)!.vmid!);
  }
}

export interface Harness {
  store: MemoryStore;
  clock: FakeClock;
  guest: FakeGuest;
  power: FakePower;
  deps: LifecycleDeps;
}

export async function harness(
  workers: WorkerRecord[],
  settings: Partial<LifecycleSettings> = {},
): Promise<Harness> {
  const clock = new FakeClock({ jump: true });
  const store = new MemoryStore({ clock });
  await store.open();
  for (const w of workers) await store.seedWorker(w);
  const guest = new FakeGuest();
  const power = new FakePower(store, guest);
  const full = lifecycleSettings({ agentTimeoutMs: 60_000, backupServer: 'vbr.lan', ...settings });
  const deps: LifecycleDeps = {
    client: guest,
    addresses: new NodeAddresses({}, full.hostAddresses, clock),
    store,
    clock,
    logger: silentLogger(),
    power,
    locks: new KeyedMutex(),
    settings: full,
  };
  return { store, clock, guest, power, deps };
}
