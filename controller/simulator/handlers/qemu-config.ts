/** GET /nodes/{node}/qemu, GET/PUT/POST config, GET pending, PUT resize (qemu-server PVE/API2/Qemu.pm). */
import { formatSize, parseProps, parseSizeGiB, typedConfigValue, validateSshKeys } from '../config/values.js';
import { fail } from '../http/api-error.js';
import type { ApiRequest } from '../http/router.js';
import { sleep } from '../latency.js';
import type { Simulator } from '../simulator.js';
import { checkBalloon, configChanges, digestOf, memoryMiB, pendingView, writeConfig } from '../vm-ops.js';
import type { ConfigChanges } from '../vm-ops.js';
import type { VmState } from '../world/state.js';
import { flag, num, optNum, optStr, rootOnly, str, userOf } from './params.js';

const GiB = 1024 ** 3;

export function listQemu(sim: Simulator, req: ApiRequest): unknown {
  const node = str(req, 'node');
  const out: unknown[] = [];
  const now = Date.now();
  for (const vm of sim.world.vms.values()) {
    if (vm.node !== node) continue;
    const d = sim.disks(vm);
    const maxmem = memoryMiB(vm.config) * 1024 * 1024;
    const up = vm.status === 'running';
    const e: Record<string, unknown> = {
      vmid: vm.vmid,
      name: vm.config.name ?? `VM ${vm.vmid}`,
      status: vm.status,
      cpus: Number(vm.config.cores ?? 1) * Number(vm.config.sockets ?? 1),
      maxmem,
      mem: up ? Math.round(maxmem * 0.3) : 0,
      maxdisk: Math.round(d.size * GiB),
      disk: 0,
      uptime: up && vm.startedAt ? Math.floor(sim.latency.toSim(now - vm.startedAt) / 1000) : 0,
      netin: 0,
      netout: 0,
      diskread: 0,
      diskwrite: 0,
      cpu: up ? 0.02 : 0,
    };
    if (up) e.pid = vm.pid;
    if (vm.config.template === '1') e.template = 1;
    if (vm.config.lock) e.lock = vm.config.lock;
    if (vm.config.tags) e.tags = vm.config.tags;
    out.push(e);
  }
  return out;
}

/** A config typed as PVE outputs it, cipassword masked. */
function typed(config: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config))
    out[k] = k === 'cipassword' ? '**********' : typedConfigValue(k, v);
  return out;
}

export function getConfig(sim: Simulator, req: ApiRequest): unknown {
  const vm = sim.world.vmAt(str(req, 'node'), num(req, 'vmid'));
  if (optStr(req, 'snapshot') !== undefined) throw fail(`snapshot '${str(req, 'snapshot')}' does not exist`);
  const cfg = flag(req, 'current') ? vm.config : pendingView(vm);
  return { ...typed(cfg), digest: digestOf(vm) };
}

export function getPending(sim: Simulator, req: ApiRequest): unknown {
  const vm = sim.world.vmAt(str(req, 'node'), num(req, 'vmid'));
  const keys = new Set([...Object.keys(vm.config), ...Object.keys(vm.pending), ...vm.pendingDelete]);
  const out: unknown[] = [];
  for (const key of [...keys].sort()) {
    const e: Record<string, unknown> = { key };
    const mask = (v: string): unknown => (key === 'cipassword' ? '**********' : typedConfigValue(key, v));
    if (vm.config[key] !== undefined) e.value = mask(vm.config[key]);
    if (vm.pending[key] !== undefined) e.pending = mask(vm.pending[key]);
    if (vm.pendingDelete.includes(key)) e.delete = 1;
    out.push(e);
  }
  out.push({ key: 'digest', value: digestOf(vm) });
  return out;
}

/**
 * qemu-server PVE/API2/Qemu.pm update_vm_api, before the flock: root-only `skiplock`, the sshkeys check,
 * the parameter checks (configChanges), then $load_and_check_config as the early check.
 */
function syncConfigChecks(sim: Simulator, req: ApiRequest): { vm: VmState; ch: ConfigChanges } {
  rootOnly(req, 'skiplock');
  if (typeof req.params.sshkeys === 'string') validateSshKeys(req.params.sshkeys);
  const ch = configChanges(req.params);
  return { vm: loadAndCheckConfig(sim, req, ch), ch };
}

/**
 * update_vm_api's $load_and_check_config: load_config, the digest, check_lock unless skiplock, the
 * balloon. It runs twice: early, and again once lock_config holds the VM's flock, so the later of two
 * writes carrying the same digest fails "checksum mismatch" (pve-guest-common AbstractConfig.pm
 * check_lock: a `delete=lock` is refused like any other change).
 */
function loadAndCheckConfig(sim: Simulator, req: ApiRequest, ch: ConfigChanges): VmState {
  const vm = sim.world.vmAt(str(req, 'node'), num(req, 'vmid'));
  const digest = optStr(req, 'digest');
  if (digest !== undefined && digest !== '' && digest !== digestOf(vm))
    throw fail('checksum mismatch (file change by other user?)');
  if (vm.config.lock && !flag(req, 'skiplock')) throw fail(`VM is locked (${vm.config.lock})`);
  checkBalloon(vm, ch);
  return vm;
}

export async function putConfig(sim: Simulator, req: ApiRequest): Promise<unknown> {
  const { vm, ch } = syncConfigChecks(sim, req);
  const release = await sim.vmLock(vm.vmid, 'exclusive', { method: req.method, path: req.path });
  try {
    await sleep(sim.latency.toReal(sim.latency.draw('configPut')));
    const now = loadAndCheckConfig(sim, req, ch);
    writeConfig(sim.world, sim.rng, now, ch);
    sim.world.touch(now, Date.now());
  } finally {
    release();
  }
  return null;
}

export async function postConfig(sim: Simulator, req: ApiRequest): Promise<unknown> {
  const { vm, ch } = syncConfigChecks(sim, req);
  const task = sim.spawnTask(
    { node: vm.node, type: 'qmconfig', id: String(vm.vmid), user: userOf(req), vmid: vm.vmid },
    async (ctx) => {
      const release = await sim.vmLock(vm.vmid, 'exclusive', { taskType: 'qmconfig' });
      try {
        await ctx.sleep(sim.latency.draw('configPut'));
        const now = loadAndCheckConfig(sim, req, ch);
        for (const [k, v] of Object.entries(ch.set))
          ctx.log(`update VM ${vm.vmid}: -${k} ${k === 'cipassword' ? '<hidden>' : v}`);
        writeConfig(sim.world, sim.rng, now, ch, (l) => ctx.log(l));
        sim.world.touch(now, Date.now());
      } finally {
        release();
      }
    },
  );
  const delay = optNum(req, 'background_delay');
  if (delay !== undefined) {
    const timer = sleep(sim.lockWaitMs(delay)).then(() => 'timeout');
    const r = await Promise.race([task.done.then(() => 'done'), timer]);
    if (r === 'done') {
      if (task.exitstatus !== 'OK' && !task.exitstatus?.startsWith('WARNINGS'))
        throw fail(`failed to update VM ${vm.vmid}: ${task.exitstatus}`);
      return null;
    }
  }
  return task.upid;
}

/** qemu-server PVE/API2/Qemu.pm resize_vm: root-only skiplock at once; everything else in the task, under lock_config. */
export function putResize(sim: Simulator, req: ApiRequest): unknown {
  rootOnly(req, 'skiplock');
  const node = str(req, 'node');
  const vmid = num(req, 'vmid');
  const disk = str(req, 'disk');
  const size = str(req, 'size');
  const digest = optStr(req, 'digest');
  const task = sim.spawnTask(
    { node, type: 'resize', id: String(vmid), user: userOf(req), vmid },
    async (ctx) => {
      const release = await sim.vmLock(vmid, 'exclusive', { taskType: 'resize' });
      try {
        const vm = sim.world.vmAt(node, vmid);
        if (digest && digest !== digestOf(vm))
          throw new Error('checksum mismatch (file change by other user?)');
        if (vm.config.lock && !flag(req, 'skiplock')) throw new Error(`VM is locked (${vm.config.lock})`);
        const value = vm.config[disk];
        if (value === undefined) throw new Error(`disk '${disk}' does not exist`);
        const props = parseProps(value, 'file');
        if (!props.file) throw new Error(`disk '${disk}' has no associated volume`);
        const vol = vm.volumes[props.file];
        if (/media=cdrom/.test(value)) throw new Error(`you can't resize a cdrom`);
        if (!vol) throw new Error(`Could not determine current size of volume '${props.file}'`);
        const amount = parseSizeGiB(size);
        const newSize = size.startsWith('+') ? vol.sizeGiB + amount : amount;
        if (newSize < vol.sizeGiB) throw new Error('shrinking disks is not supported');
        if (newSize === vol.sizeGiB) return;
        await ctx.sleep(sim.latency.draw('resize'));
        ctx.log(
          `Size of logical volume ${props.file} changed from ${formatSize(vol.sizeGiB)} to ${formatSize(newSize)}.`,
        );
        vol.sizeGiB = newSize;
        vm.config[disk] = value.replace(/size=[^,]+/, `size=${formatSize(newSize)}`);
      } finally {
        release();
      }
    },
  );
  return task.upid;
}
