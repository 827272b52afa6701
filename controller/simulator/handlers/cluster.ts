/** GET /version, /nodes, /nodes/{node}/storage, /cluster/resources, /cluster/status, /cluster/nextid (pve-manager). */
import { paramError } from '../http/api-error.js';
import { RawJson } from '../http/respond.js';
import type { ApiRequest } from '../http/router.js';
import type { Simulator } from '../simulator.js';
import { memoryMiB } from '../vm-ops.js';
import type { VmState } from '../world/state.js';
import { flag, optNum, optStr, str } from './params.js';

const GiB = 1024 ** 3;

export function getVersion(): unknown {
  return { version: '9.1.1', release: '9.1', repoid: '42ab5d9b', console: 'html5' };
}

export function getNodes(sim: Simulator): unknown {
  const fp = sim.fingerprint ?? 'AB:CD:'.repeat(15) + 'AB:CD';
  return [...sim.world.nodes.values()].map((n) => ({
    node: n.name,
    id: `node/${n.name}`,
    type: 'node',
    status: n.status,
    level: '',
    cpu: 0.03,
    maxcpu: n.cpus,
    mem: Math.round(n.memoryGiB * GiB * 0.2),
    maxmem: n.memoryGiB * GiB,
    disk: 8 * GiB,
    maxdisk: 100 * GiB,
    uptime: Math.floor((Date.now() - sim.epoch) / 1000) + 86400,
    ssl_fingerprint: fp,
  }));
}

function storageUsage(sim: Simulator, id: string, node: string): number {
  const shared = sim.world.storages.get(id)?.shared;
  let used = 0;
  for (const vm of sim.world.vms.values()) {
    if (!shared && vm.node !== node) continue;
    for (const v of Object.values(vm.volumes)) if (v.storage === id) used += v.usedGiB;
  }
  return used;
}

export function getNodeStorage(sim: Simulator, req: ApiRequest): unknown {
  const node = str(req, 'node');
  const content = optStr(req, 'content')
    ?.split(/[;,\s]+/)
    .filter(Boolean);
  const only = optStr(req, 'storage');
  const out: unknown[] = [];
  for (const s of sim.world.storages.values()) {
    if (!sim.world.storageOnNode(s.id, node)) continue;
    if (only && s.id !== only) continue;
    if (content && !content.some((c) => s.content.includes(c))) continue;
    if (flag(req, 'enabled') && s.enabled === false) continue;
    const total = (s.totalGiB ?? 1000) * GiB;
    const used = Math.round(storageUsage(sim, s.id, node) * GiB);
    out.push({
      storage: s.id,
      type: s.type,
      content: s.content.join(','),
      active: s.enabled === false ? 0 : 1,
      enabled: s.enabled === false ? 0 : 1,
      shared: s.shared ? 1 : 0,
      total,
      used,
      avail: Math.max(0, total - used),
      used_fraction: total > 0 ? used / total : 0,
    });
  }
  return out;
}

/**
 * One /cluster/resources VM entry as pve-manager PVE/API2/Cluster.pm resources builds it: id, vmid, node
 * and type from the fresh vmlist; status, name and the figures from PVE/API2Tools.pm extract_vm_stats,
 * i.e. the rrd data pvestatd broadcasts every 10 s (status `unknown` and no name before the first
 * broadcast); lock and tags fresh from the config; pool; hastate. With the lag off everything is fresh.
 * ASSUMPTION: every node broadcasts at the same instants.
 */
function vmResource(sim: Simulator, vm: VmState, now: number, interval: number): Record<string, unknown> {
  const e: Record<string, unknown> = { id: `qemu/${vm.vmid}`, type: 'qemu', vmid: vm.vmid, node: vm.node };
  const seen = sim.resourcesLag
    ? sim.world.lagged(vm, now, sim.epoch, interval)
    : { status: vm.status, name: vm.config.name };
  e.status = seen.status;
  if (seen.status !== 'unknown') {
    const d = sim.disks(vm);
    if (seen.name !== undefined) e.name = seen.name;
    e.template = vm.config.template === '1' ? 1 : 0;
    e.maxcpu = Number(vm.config.cores ?? 1) * Number(vm.config.sockets ?? 1);
    e.maxmem = memoryMiB(vm.config) * 1024 * 1024;
    e.maxdisk = Math.round(d.size * GiB);
    const up = seen.status === 'running';
    e.cpu = up ? 0.02 : 0;
    e.mem = up ? Math.round((e.maxmem as number) * 0.3) : 0;
    e.disk = 0;
    e.uptime = up && vm.startedAt ? Math.floor(sim.latency.toSim(now - vm.startedAt) / 1000) : 0;
    e.netin = 0;
    e.netout = 0;
    e.diskread = 0;
    e.diskwrite = 0;
  }
  if (vm.config.tags) e.tags = vm.config.tags;
  if (vm.config.lock) e.lock = vm.config.lock;
  if (vm.pool) e.pool = vm.pool;
  if (vm.haManaged) e.hastate = vm.haState ?? 'stopped';
  return e;
}

/** Per-VM JSON of the last answer, reused while the inputs (signature) stay the same: 10,000 VMs stay cheap. */
const entryCache = new WeakMap<VmState, { sig: string; json: string }>();

function vmResourceJson(sim: Simulator, vm: VmState, now: number, interval: number): string {
  const c = vm.config;
  const seen = sim.resourcesLag ? sim.world.lagged(vm, now, sim.epoch, interval) : undefined;
  const uptime =
    vm.status === 'running' && vm.startedAt ? Math.floor(sim.latency.toSim(now - vm.startedAt) / 1000) : 0;
  let volumes = '';
  for (const k in vm.volumes) volumes += `${k}=${vm.volumes[k].sizeGiB};`;
  const sig = `${vm.node}|${vm.status}|${c.name}|${seen?.status}|${seen?.name}|${c.template}|${c.cores}|${c.sockets}|${c.memory}|${c.tags}|${c.lock}|${vm.pool}|${vm.haManaged}|${vm.haState}|${uptime}|${volumes}`;
  const hit = entryCache.get(vm);
  if (hit && hit.sig === sig) return hit.json;
  const json = JSON.stringify(vmResource(sim, vm, now, interval));
  entryCache.set(vm, { sig, json });
  return json;
}

export function getResources(sim: Simulator, req: ApiRequest): unknown {
  const type = optStr(req, 'type');
  const now = Date.now();
  const interval = Math.max(1, sim.latency.toReal(sim.latency.profile.statsInterval));
  const parts: string[] = [];
  if (!type || type === 'vm')
    for (const id of sim.world.sortedVmids())
      parts.push(vmResourceJson(sim, sim.world.vms.get(id) as VmState, now, interval));
  const out: unknown[] = [];
  if (!type || type === 'node') {
    for (const n of sim.world.nodes.values())
      out.push({
        id: `node/${n.name}`,
        type: 'node',
        node: n.name,
        status: n.status,
        level: '',
        maxcpu: n.cpus,
        cpu: 0.03,
        maxmem: n.memoryGiB * GiB,
        mem: Math.round(n.memoryGiB * GiB * 0.2),
        maxdisk: 100 * GiB,
        disk: 8 * GiB,
        uptime: 86400,
        cgroup_mode: 2,
      });
  }
  if (!type || type === 'storage') {
    for (const n of sim.world.nodes.values())
      for (const s of sim.world.storages.values()) {
        if (!sim.world.storageOnNode(s.id, n.name)) continue;
        out.push({
          id: `storage/${n.name}/${s.id}`,
          type: 'storage',
          storage: s.id,
          node: n.name,
          status: 'available',
          plugintype: s.type,
          content: s.content.join(','),
          shared: s.shared ? 1 : 0,
          maxdisk: (s.totalGiB ?? 1000) * GiB,
          disk: Math.round(storageUsage(sim, s.id, n.name) * GiB),
        });
      }
  }
  if (!type) for (const p of sim.world.pools.keys()) out.push({ id: `/pool/${p}`, type: 'pool', pool: p });
  for (const e of out) parts.push(JSON.stringify(e));
  return new RawJson(`[${parts.join(',')}]`);
}

/**
 * GET /cluster/status as pve-manager PVE/API2/Cluster.pm get_status: in a cluster, the cluster entry
 * (nodes, version, name, quorate) and one `node` entry per member with nodeid, local, online, the
 * corosync `ip` and the subscription level; a standalone node gets one fake node entry (nodeid 0).
 */
export function getClusterStatus(sim: Simulator): unknown {
  const nodes = [...sim.world.nodes.values()];
  const entry = (n: (typeof nodes)[number], i: number): Record<string, unknown> => ({
    type: 'node',
    id: `node/${n.name}`,
    name: n.name,
    nodeid: nodes.length > 1 ? i + 1 : 0,
    local: n.name === sim.localNode ? 1 : 0,
    online: n.status === 'online' ? 1 : 0,
    ip: n.ip,
    level: '',
  });
  if (nodes.length === 1) return [entry(nodes[0], 0)];
  const online = nodes.filter((n) => n.status === 'online').length;
  return [
    {
      type: 'cluster',
      id: 'cluster',
      nodes: nodes.length,
      version: nodes.length + 1,
      name: sim.world.clusterName,
      quorate: online > nodes.length / 2 ? 1 : 0,
    },
    ...nodes.map(entry),
  ];
}

export function getNextId(sim: Simulator, req: ApiRequest): unknown {
  const want = optNum(req, 'vmid');
  if (want !== undefined) {
    if (sim.world.vms.has(want)) throw paramError({ vmid: `VM ${want} already exists` });
    return String(want);
  }
  return String(sim.world.nextId());
}
