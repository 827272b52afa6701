/** GET status/current; POST status/start|stop|shutdown|reboot (UPID tasks, HA requests for HA VMs). */
import { parseProps } from '../config/values.js';
import { fail } from '../http/api-error.js';
import type { ApiRequest } from '../http/router.js';
import { sleep } from '../latency.js';
import type { Simulator } from '../simulator.js';
import type { TaskContext } from '../tasks.js';
import { memoryMiB, pendingView } from '../vm-ops.js';
import type { VmState } from '../world/state.js';
import { flag, num, optNum, str, userOf } from './params.js';

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

function checkLock(vm: VmState, req: ApiRequest): void {
  if (vm.config.lock && !flag(req, 'skiplock')) throw new Error(`VM is locked (${vm.config.lock})`);
}

async function doStart(sim: Simulator, vm: VmState, ctx: TaskContext): Promise<void> {
  await ctx.sleep(sim.latency.draw('start'));
  if (!sim.world.vms.has(vm.vmid))
    throw new Error(`Configuration file 'nodes/${vm.node}/qemu-server/${vm.vmid}.conf' does not exist`);
  sim.boot(vm);
}

export function postStart(sim: Simulator, req: ApiRequest): unknown {
  const vm = sim.world.vmAt(str(req, 'node'), num(req, 'vmid'));
  if (vm.haManaged) return haRequest(sim, vm, req, 'started');
  const task = sim.spawnTask(
    { node: vm.node, type: 'qmstart', id: String(vm.vmid), user: userOf(req), vmid: vm.vmid },
    async (ctx) => {
      const release = await sim.vmLock(vm.vmid, 'exclusive', { taskType: 'qmstart' });
      try {
        if (vm.config.template === '1') throw new Error("you can't start a vm if it's a template");
        checkLock(vm, req);
        if (vm.status === 'running') throw new Error(`VM ${vm.vmid} already running`);
        await doStart(sim, vm, ctx);
      } finally {
        release();
      }
    },
  );
  return task.upid;
}

export function postStop(sim: Simulator, req: ApiRequest): unknown {
  const vm = sim.world.vmAt(str(req, 'node'), num(req, 'vmid'));
  if (vm.haManaged) return haRequest(sim, vm, req, 'stopped');
  if (flag(req, 'overrule-shutdown'))
    for (const t of sim.tasks.running())
      if (t.type === 'qmshutdown' && t.id === String(vm.vmid)) sim.tasks.crash(t.upid);
  const task = sim.spawnTask(
    { node: vm.node, type: 'qmstop', id: String(vm.vmid), user: userOf(req), vmid: vm.vmid },
    async (ctx) => {
      const release = await sim.vmLock(vm.vmid, 'exclusive', { taskType: 'qmstop' });
      try {
        checkLock(vm, req);
        if (vm.status === 'stopped') return;
        await ctx.sleep(sim.latency.draw('stop'));
        sim.halt(vm);
      } finally {
        release();
      }
    },
  );
  return task.upid;
}

/** Shutdown body shared with reboot; returns when the VM is down (or throws on timeout). */
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

export function postShutdown(sim: Simulator, req: ApiRequest): unknown {
  const vm = sim.world.vmAt(str(req, 'node'), num(req, 'vmid'));
  if (vm.haManaged) return haRequest(sim, vm, req, 'stopped');
  const task = sim.spawnTask(
    { node: vm.node, type: 'qmshutdown', id: String(vm.vmid), user: userOf(req), vmid: vm.vmid },
    async (ctx) => {
      const release = await sim.vmLock(vm.vmid, 'exclusive', { taskType: 'qmshutdown' });
      try {
        checkLock(vm, req);
        await doShutdown(sim, vm, req, ctx);
      } finally {
        release();
      }
    },
  );
  return task.upid;
}

export function postReboot(sim: Simulator, req: ApiRequest): unknown {
  const vm = sim.world.vmAt(str(req, 'node'), num(req, 'vmid'));
  if (vm.status !== 'running') throw fail(`VM ${vm.vmid} not running`);
  const task = sim.spawnTask(
    { node: vm.node, type: 'qmreboot', id: String(vm.vmid), user: userOf(req), vmid: vm.vmid },
    async (ctx) => {
      const release = await sim.vmLock(vm.vmid, 'exclusive', { taskType: 'qmreboot' });
      try {
        checkLock(vm, req);
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
