/** GET status/current; POST status/start|stop|shutdown|reboot (qemu-server PVE/API2/Qemu.pm; UPID tasks, HA requests). */
import { parseProps } from '../config/values.js';
import { fail, paramError } from '../http/api-error.js';
import type { ApiRequest } from '../http/router.js';
import { sleep } from '../latency.js';
import type { Simulator } from '../simulator.js';
import type { TaskContext } from '../tasks.js';
import { memoryMiB, pendingView } from '../vm-ops.js';
import type { VmState } from '../world/state.js';
import { flag, num, optNum, rootOnly, str, userOf } from './params.js';

const GiB = 1024 ** 3;

export function getStatusCurrent(sim: Simulator, req: ApiRequest): unknown {
  const vm = sim.world.vmAt(str(req, 'node'), num(req, 'vmid'));
  const up = vm.status === 'running';
  const maxmem = memoryMiB(vm.config) * 1024 * 1024;
  const out: Record<string, unknown> = {
    vmid: vm.vmid,
    status: vm.status,
    qmpstatus: vm.status,
    name: vm.config.name ?? `VM ${vm.vmid}`,
    cpus: Number(vm.config.cores ?? 1) * Number(vm.config.sockets ?? 1),
    maxmem,
    mem: up ? Math.round(maxmem * 0.3) : 0,
    maxdisk: Math.round(sim.disks(vm).size * GiB),
    disk: 0,
    uptime: up && vm.startedAt ? Math.floor(sim.latency.toSim(Date.now() - vm.startedAt) / 1000) : 0,
    cpu: up ? 0.02 : 0,
    netin: 0,
    netout: 0,
    diskread: 0,
    diskwrite: 0,
    ha: vm.haManaged ? { managed: 1, state: vm.haState ?? 'stopped' } : { managed: 0 },
  };
  if (up) {
    out.pid = vm.pid;
    out['running-machine'] = 'pc-i440fx-9.2+pve1';
    out['running-qemu'] = '9.2.0';
  }
  if (vm.config.lock) out.lock = vm.config.lock;
  if (vm.config.tags) out.tags = vm.config.tags;
  if (vm.config.template === '1') out.template = 1;
  if (vm.config.agent !== undefined && parseProps(vm.config.agent, 'enabled').enabled === '1') out.agent = 1;
  return out;
}

/** The HA stack acting on a request some time after the hastart/hastop task ended. */
function haRequest(sim: Simulator, vm: VmState, req: ApiRequest, want: 'started' | 'stopped'): unknown {
  const type = want === 'started' ? 'hastart' : 'hastop';
  const task = sim.spawnTask(
    { node: vm.node, type, id: String(vm.vmid), user: userOf(req), vmid: vm.vmid },
    async (ctx) => {
      ctx.log(`Requesting HA ${want === 'started' ? 'start' : 'stop'} for VM ${vm.vmid}`);
      vm.haState = want === 'started' ? 'starting' : 'stopping';
      setTimeout(
        () => {
          if (!sim.world.vms.has(vm.vmid)) return;
          if (want === 'started' && vm.status !== 'running') sim.boot(vm);
          if (want === 'stopped' && vm.status !== 'stopped') sim.halt(vm);
          vm.haState = want;
        },
        sim.latency.toReal(sim.latency.draw('haDelay')),
      ).unref();
    },
  );
  return task.upid;
}

async function doStart(sim: Simulator, vm: VmState, ctx: TaskContext): Promise<void> {
  await ctx.sleep(sim.latency.draw('start'));
  if (!sim.world.vms.has(vm.vmid))
    throw new Error(`Configuration file 'nodes/${vm.node}/qemu-server/${vm.vmid}.conf' does not exist`);
  sim.boot(vm);
}

/** The VM whose config is on `node` (a task's view: load_config / check_running), or the task's error. */
function taskVm(
  sim: Simulator,
  node: string,
  vmid: number,
  missing: 'load_config' | 'check_running',
): VmState {
  const vm = sim.world.vms.get(vmid);
  if (vm && vm.node === node) return vm;
  // pve-guest-common AbstractConfig.pm load_config; qemu-server QemuConfig.pm assert_config_exists_on_node
  if (missing === 'load_config')
    throw new Error(`Configuration file 'nodes/${node}/qemu-server/${vmid}.conf' does not exist`);
  throw new Error(`unable to find configuration file for VM ${vmid} on node '${node}'`);
}

/** HA-managed is a cluster-wide fact (PVE::HA::Config::vm_is_ha_managed), checked before the fork. */
function haManaged(sim: Simulator, vmid: number): VmState | undefined {
  const vm = sim.world.vms.get(vmid);
  return vm?.haManaged ? vm : undefined;
}

/**
 * qemu-server PVE/API2/Qemu.pm vm_start: nothing is checked before the fork but root-only options and HA;
 * the task runs QemuServer.pm vm_start under lock_config: load_config, template, check_lock (unless
 * skiplock or a `suspended` lock), "already running". A missing VM is a task error, not an HTTP one.
 */
export function postStart(sim: Simulator, req: ApiRequest): unknown {
  rootOnly(
    req,
    'skiplock',
    'stateuri',
    'migratedfrom',
    'migration_type',
    'migration_network',
    'targetstorage',
    'force-cpu',
    'with-conntrack-state',
    'nets-host-mtu',
  );
  const node = str(req, 'node');
  const vmid = num(req, 'vmid');
  const ha = haManaged(sim, vmid);
  if (ha) return haRequest(sim, ha, req, 'started');
  const task = sim.spawnTask(
    { node, type: 'qmstart', id: String(vmid), user: userOf(req), vmid },
    async (ctx) => {
      const release = await sim.vmLock(vmid, 'exclusive', { taskType: 'qmstart' });
      try {
        const vm = taskVm(sim, node, vmid, 'load_config');
        if (vm.config.template === '1') throw new Error("you can't start a vm if it's a template");
        if (vm.config.lock && vm.config.lock !== 'suspended' && !flag(req, 'skiplock'))
          throw new Error(`VM is locked (${vm.config.lock})`);
        if (vm.status === 'running') throw new Error(`VM ${vmid} already running`);
        await doStart(sim, vm, ctx);
      } finally {
        release();
      }
    },
  );
  return task.upid;
}

/**
 * qemu-server QemuServer.pm vm_stop/_do_vm_stop under lock_config: check_running first (a missing config
 * fails "unable to find configuration file ..."), a stopped VM returns at once - before check_lock, so
 * stopping a stopped VM succeeds even when it is locked - then check_lock unless skiplock.
 */
async function stopUnderLock(
  sim: Simulator,
  req: ApiRequest,
  ctx: TaskContext,
  node: string,
  vmid: number,
  shutdown: boolean,
): Promise<void> {
  const release = await sim.vmLock(vmid, 'exclusive', { taskType: ctx.task.type });
  try {
    const vm = taskVm(sim, node, vmid, 'check_running');
    if (vm.status !== 'running') return;
    if (vm.config.lock && !flag(req, 'skiplock')) throw new Error(`VM is locked (${vm.config.lock})`);
    if (shutdown) await doShutdown(sim, vm, req, ctx);
    else {
      await ctx.sleep(sim.latency.draw('stop'));
      sim.halt(vm);
    }
  } finally {
    release();
  }
}

/** qemu-server PVE/API2/Qemu.pm vm_stop: root-only options and HA before the fork, then the qmstop task. */
export function postStop(sim: Simulator, req: ApiRequest): unknown {
  rootOnly(req, 'skiplock', 'keepActive', 'migratedfrom');
  const node = str(req, 'node');
  const vmid = num(req, 'vmid');
  const ha = haManaged(sim, vmid);
  if (ha) {
    if (flag(req, 'overrule-shutdown'))
      throw paramError({ 'overrule-shutdown': 'Not applicable for HA resources.' });
    return haRequest(sim, ha, req, 'stopped');
  }
  const task = sim.spawnTask(
    { node, type: 'qmstop', id: String(vmid), user: userOf(req), vmid },
    async (ctx) => {
      // GuestHelpers::abort_guest_tasks: running qmshutdown tasks of the VM are aborted first
      if (flag(req, 'overrule-shutdown'))
        for (const t of sim.tasks.running())
          if (t.type === 'qmshutdown' && t.id === String(vmid) && t.node === node) sim.tasks.crash(t.upid);
      await stopUnderLock(sim, req, ctx, node, vmid, false);
    },
  );
  return task.upid;
}

/** _do_vm_stop's shutdown: wait `timeout` (startup `down`, else 60 s), then fail or, with forceStop, kill. */
async function doShutdown(sim: Simulator, vm: VmState, req: ApiRequest, ctx: TaskContext): Promise<void> {
  if (vm.status === 'stopped') return;
  const startup = parseProps(pendingView(vm).startup ?? '', 'order');
  const timeoutS =
    optNum(req, 'timeout') ??
    (startup.down !== undefined ? Number(startup.down) : sim.latency.profile.shutdownTimeoutSeconds);
  const ignores =
    sim.faults.take(['shutdownTimeout'], { vmid: vm.vmid, taskType: ctx.task.type }) !== undefined;
  const needed = ignores ? Infinity : sim.latency.draw('shutdown');
  const limit = timeoutS * sim.latency.profile.secondMs;
  if (needed <= limit) {
    await ctx.sleep(needed);
    sim.halt(vm);
    return;
  }
  await ctx.sleep(limit);
  if (!flag(req, 'forceStop')) throw new Error('VM quit/powerdown failed - got timeout');
  ctx.log('VM still running - terminating now with SIGTERM');
  await ctx.sleep(sim.latency.draw('stop'));
  sim.halt(vm);
}

/** qemu-server PVE/API2/Qemu.pm vm_shutdown: root-only options, HA, then qmshutdown (vm_stop with shutdown). */
export function postShutdown(sim: Simulator, req: ApiRequest): unknown {
  rootOnly(req, 'skiplock', 'keepActive');
  const node = str(req, 'node');
  const vmid = num(req, 'vmid');
  const ha = haManaged(sim, vmid);
  if (ha) return haRequest(sim, ha, req, 'stopped');
  const task = sim.spawnTask(
    { node, type: 'qmshutdown', id: String(vmid), user: userOf(req), vmid },
    async (ctx) => stopUnderLock(sim, req, ctx, node, vmid, true),
  );
  return task.upid;
}

/**
 * qemu-server PVE/API2/Qemu.pm vm_reboot: check_running before the fork ("unable to find configuration
 * file ..." / "VM N not running"); QemuServer.pm vm_reboot then shuts down (no lock check) and starts.
 */
export function postReboot(sim: Simulator, req: ApiRequest): unknown {
  const node = str(req, 'node');
  const vmid = num(req, 'vmid');
  let vm: VmState;
  try {
    vm = taskVm(sim, node, vmid, 'check_running');
  } catch (err) {
    throw fail((err as Error).message);
  }
  if (vm.status !== 'running') throw fail(`VM ${vm.vmid} not running`);
  const task = sim.spawnTask(
    { node, type: 'qmreboot', id: String(vmid), user: userOf(req), vmid },
    async (ctx) => {
      const release = await sim.vmLock(vmid, 'exclusive', { taskType: 'qmreboot' });
      try {
        if (vm.status !== 'running') return;
        await doShutdown(sim, vm, req, ctx);
        await doStart(sim, vm, ctx);
      } finally {
        release();
      }
    },
  );
  return task.upid;
}

/** Tiny pause used by sync handlers in the realistic profile. */
export async function pause(sim: Simulator, key: 'smallGet' | 'agentCall'): Promise<void> {
  await sleep(sim.latency.toReal(sim.latency.draw(key)));
}
