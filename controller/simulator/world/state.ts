/** The live state of the simulated cluster: nodes, storages, pools and VMs (with their guests). */
import { fail } from '../http/api-error.js';
import type { Rng } from '../rng.js';
import { canonicalNet, formatSize, normalizeTags } from '../config/values.js';
import { generatedVm } from './default-world.js';
import type { NetworkConfig, NodeConfig, StorageConfig, VmConfigSpec, WorldConfig } from './types.js';

/** A disk volume owned by a VM. */
export interface Volume {
  storage: string;
  sizeGiB: number;
  usedGiB: number;
}

/** A running guest command started through agent/exec. */
export interface ExecRecord {
  pid: number;
  command: string;
  endsAt: number;
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** The simulated guest OS inside a VM. */
export interface GuestState {
  /** Real epoch ms at which the agent answers; undefined while stopped. */
  agentReadyAt?: number;
  /** Cloud-init settings the guest booted with (ipconfigN, ciuser, ...); empty without a cloud-init drive. */
  applied: Record<string, string>;
  /** Whether the last boot had cloud-init data (a vm-<vmid>-cloudinit drive). */
  cloudinit: boolean;
  execs: Map<number, ExecRecord>;
  nextPid: number;
  boots: number;
  os: string;
}

/** One point of a VM's status/name history (for the /cluster/resources lag). */
interface HistoryPoint {
  at: number;
  status: string;
  name?: string;
}

/** A VM (or template) and its state. */
export interface VmState {
  vmid: number;
  node: string;
  /** Current config (PVE wire strings; booleans "0"/"1"). */
  config: Record<string, string>;
  pending: Record<string, string>;
  pendingDelete: string[];
  status: 'running' | 'stopped';
  startedAt?: number;
  pid?: number;
  volumes: Record<string, Volume>;
  haManaged: boolean;
  haState?: string;
  pool?: string;
  guest: GuestState;
  history: HistoryPoint[];
  createdAt: number;
}

/** Node state. */
export interface NodeState extends NodeConfig {
  cpus: number;
  memoryGiB: number;
  status: 'online' | 'offline';
}

function hex2(n: number): string {
  return n.toString(16).toUpperCase().padStart(2, '0');
}

/** The cluster. */
export class World {
  readonly clusterName: string;
  readonly nodes = new Map<string, NodeState>();
  readonly storages = new Map<string, StorageConfig>();
  readonly pools = new Map<string, Set<number>>();
  readonly vms = new Map<number, VmState>();
  readonly network: NetworkConfig;
  readonly macPrefix: string;
  readonly maxVms: number | undefined;
  /** DHCP leases: MAC -> IP. */
  readonly leases = new Map<string, string>();
  private sorted: number[] | undefined;
  private readonly rng: Rng;
  private readonly usedMacs = new Set<string>();

  constructor(config: WorldConfig, rng: Rng) {
    this.rng = rng;
    this.clusterName = config.clusterName ?? 'simcluster';
    this.macPrefix = (config.macPrefix ?? 'BC:24:11').toUpperCase();
    this.network = config.network ?? {};
    this.maxVms = config.capacity?.maxVms;
    for (const n of config.nodes) {
      if (this.nodes.has(n.name)) throw new Error(`world: duplicate node '${n.name}'`);
      this.nodes.set(n.name, { cpus: 16, memoryGiB: 128, status: 'online', ...n });
    }
    for (const s of config.storages ?? [
      { id: 'local-lvm', type: 'lvmthin', content: ['images', 'rootdir'] },
    ]) {
      for (const n of s.nodes ?? [])
        if (!this.nodes.has(n)) throw new Error(`world: storage '${s.id}' names unknown node '${n}'`);
      this.storages.set(s.id, { enabled: true, shared: false, bandwidthGiBps: 1, totalGiB: 1000, ...s });
    }
    for (const p of config.pools ?? []) this.pools.set(p, new Set());
    for (const spec of [...(config.templates ?? []), ...(config.vms ?? [])]) this.addFromSpec(spec, 0);
    const gen = config.generate?.vms ?? 0;
    for (let i = 0, made = 0; made < gen; i++) {
      const spec = generatedVm(i, config);
      if (this.vms.has(spec.vmid)) continue;
      this.addFromSpec(spec, 0);
      made++;
    }
  }

  /** A fresh random MAC with the datacenter prefix (seeded). */
  genMac(): string {
    for (;;) {
      const parts = this.macPrefix.split(':');
      while (parts.length < 6) parts.push(hex2(this.rng.int(0, 255)));
      const mac = parts.join(':');
      if (!this.usedMacs.has(mac)) {
        this.usedMacs.add(mac);
        return mac;
      }
    }
  }

  /** 500 "hostname lookup" for an unknown node, as pveproxy answers when it cannot proxy. */
  assertNode(node: string): NodeState {
    const n = this.nodes.get(node);
    if (!n)
      throw fail(
        `hostname lookup '${node}' failed - failed to get address info for: ${node}: Name or service not known`,
      );
    return n;
  }

  /** The VM at /nodes/{node}/qemu/{vmid}, or PVE's 500 "Configuration file ... does not exist". */
  vmAt(node: string, vmid: number): VmState {
    const vm = this.vms.get(vmid);
    if (!vm || vm.node !== node)
      throw fail(`Configuration file 'nodes/${node}/qemu-server/${vmid}.conf' does not exist`);
    return vm;
  }

  /** Whether storage `id` exists and is available on `node`. */
  storageOnNode(id: string, node: string): boolean {
    const s = this.storages.get(id);
    return !!s && (s.nodes === undefined || s.nodes.includes(node));
  }

  /** vmids in PVE's string order ("100", "1000", "101"). */
  sortedVmids(): number[] {
    if (!this.sorted) this.sorted = [...this.vms.keys()].map(String).sort().map(Number);
    return this.sorted;
  }

  addVm(vm: VmState): void {
    this.vms.set(vm.vmid, vm);
    this.sorted = undefined;
    if (vm.pool) this.pools.get(vm.pool)?.add(vm.vmid);
  }

  removeVm(vmid: number): void {
    const vm = this.vms.get(vmid);
    if (!vm) return;
    if (vm.pool) this.pools.get(vm.pool)?.delete(vmid);
    this.vms.delete(vmid);
    this.sorted = undefined;
  }

  /** Lowest free vmid in [100, 1000000). */
  nextId(): number {
    for (let id = 100; id < 1000000; id++) if (!this.vms.has(id)) return id;
    throw fail('unable to get any free VMID in range [100, 999999]');
  }

  /** Records the status/name as pvestatd would see them from now on. */
  touch(vm: VmState, now: number): void {
    const last = vm.history[vm.history.length - 1];
    const point = { at: now, status: vm.status, name: vm.config.name };
    if (last && last.status === point.status && last.name === point.name) return;
    vm.history.push(point);
    if (vm.history.length > 6) vm.history.splice(0, vm.history.length - 6);
  }

  /** Status and name as /cluster/resources shows them at `now` with broadcasts every `interval` ms since `epoch`. */
  lagged(vm: VmState, now: number, epoch: number, interval: number): { status: string; name?: string } {
    const lastBroadcast = epoch + Math.floor((now - epoch) / interval) * interval;
    let seen: HistoryPoint | undefined;
    for (const p of vm.history) if (p.at <= lastBroadcast) seen = p;
    if (!seen) return { status: 'unknown' };
    return { status: seen.status, name: seen.name };
  }

  /** A new VM object (no disks yet) on `node`. */
  newVm(vmid: number, node: string, config: Record<string, string>, now: number): VmState {
    return {
      vmid,
      node,
      config,
      pending: {},
      pendingDelete: [],
      status: 'stopped',
      volumes: {},
      haManaged: false,
      guest: { applied: {}, cloudinit: false, execs: new Map(), nextPid: 1000, boots: 0, os: 'Linux' },
      history: [],
      createdAt: now,
    };
  }

  /** Builds a VM from a world-file spec (templates, foreign VMs, generated VMs). */
  addFromSpec(spec: VmConfigSpec, now: number): VmState {
    if (this.vms.has(spec.vmid)) throw new Error(`world: duplicate vmid ${spec.vmid}`);
    this.assertNodeKnown(spec.node);
    const config: Record<string, string> = {};
    for (const [k, v] of Object.entries(spec.config ?? {})) config[k] = String(v).trim();
    if (spec.name) config.name = spec.name;
    if (spec.tags) config.tags = normalizeTags(spec.tags);
    if (spec.template) config.template = '1';
    config.memory ??= '2048';
    config.cores ??= '1';
    for (const k of Object.keys(config))
      if (/^net\d+$/.test(k)) config[k] = canonicalNet(config[k], () => this.genMac());
    config.smbios1 ??= `uuid=${this.uuid()}`;
    const vm = this.newVm(spec.vmid, spec.node, config, now);
    const storage = spec.storage ?? (spec.template ? this.firstShared() : undefined) ?? 'local-lvm';
    if (!this.storages.has(storage))
      throw new Error(`world: vm ${spec.vmid} uses unknown storage '${storage}'`);
    if (spec.disk && !Object.keys(config).some((k) => /^(scsi|virtio|sata)\d+$/.test(k))) {
      const volid = `${storage}:${spec.template ? 'base' : 'vm'}-${spec.vmid}-disk-0`;
      vm.volumes[volid] = { storage, sizeGiB: spec.disk.size, usedGiB: spec.disk.used ?? spec.disk.size };
      config.scsi0 = `${volid},iothread=1,size=${formatSize(spec.disk.size)}`;
    }
    for (const [k, v] of Object.entries(config)) {
      if (!/^(scsi|virtio|sata|ide|efidisk|tpmstate|unused)\d+$/.test(k)) continue;
      const volid = v.split(',')[0];
      const st = volid.split(':')[0];
      if (!volid.includes(':') || !this.storages.has(st) || vm.volumes[volid]) continue;
      const size = /size=(\d+(?:\.\d+)?)([MG])/.exec(v);
      const gib = size ? Number(size[1]) / (size[2] === 'M' ? 1024 : 1) : 0;
      vm.volumes[volid] = { storage: st, sizeGiB: gib, usedGiB: gib };
    }
    vm.guest.os = spec.os ?? 'Rocky Linux 9.5 (Blue Onyx)';
    vm.haManaged = spec.haManaged ?? false;
    if (spec.pool) {
      if (!this.pools.has(spec.pool)) this.pools.set(spec.pool, new Set());
      vm.pool = spec.pool;
    }
    if (spec.running && !spec.template) {
      vm.status = 'running';
      vm.startedAt = now;
      vm.pid = 10000 + spec.vmid;
      vm.guest.agentReadyAt = now;
      vm.guest.boots = 1;
      vm.guest.cloudinit = hasCloudinitDrive(config, spec.vmid);
      vm.guest.applied = vm.guest.cloudinit ? cloudInitOf(config) : {};
      if (vm.haManaged) vm.haState = 'started';
    } else if (vm.haManaged) vm.haState = 'stopped';
    this.addVm(vm);
    this.touch(vm, now);
    return vm;
  }

  /** A random UUID (seeded). */
  uuid(): string {
    const h = Array.from({ length: 16 }, () => this.rng.int(0, 255).toString(16).padStart(2, '0')).join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  private firstShared(): string | undefined {
    for (const s of this.storages.values()) if (s.shared && s.content.includes('images')) return s.id;
    return undefined;
  }

  private assertNodeKnown(node: string): void {
    if (!this.nodes.has(node)) throw new Error(`world: unknown node '${node}'`);
  }
}

/**
 * qemu-server PVE/QemuServer/Cloudinit.pm generate_cloudinit_config: data is generated only for a drive
 * whose volume is named vm-<vmid>-cloudinit; without one, ipconfig, nameserver and the rest never reach
 * the guest.
 */
export function hasCloudinitDrive(config: Record<string, string>, vmid: number): boolean {
  const re = new RegExp(`^[^:]+:(.*/)?vm-${vmid}-cloudinit(\\.(raw|qcow2|vmdk))?(,|$)`);
  return Object.entries(config).some(([k, v]) => /^(ide|sata|scsi|virtio)\d+$/.test(k) && re.test(v));
}

/** The cloud-init view of a config (what the guest applies at boot). */
export function cloudInitOf(config: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(config))
    if (/^ipconfig\d+$/.test(k) || ['ciuser', 'sshkeys', 'nameserver', 'searchdomain', 'name'].includes(k))
      out[k] = v;
  return out;
}
