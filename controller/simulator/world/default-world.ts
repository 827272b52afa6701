/** The default world (three nodes, local-lvm + shared Ceph pool, one Rocky Linux worker template) and a generator for big ones. */
import type { VmConfigSpec, WorldConfig } from './types.js';

/** Template vmid of the default world. */
export const DEFAULT_TEMPLATE_VMID = 9000;
export const DEFAULT_TEMPLATE_NAME = 'worker-template';

/** A fresh copy of the default world: pve1-3 (10.0.0.11-13), local-lvm on each, shared cephpool, template 9000. */
export function defaultWorld(): WorldConfig {
  return {
    clusterName: 'simcluster',
    nodes: [
      { name: 'pve1', ip: '10.0.0.11', cpus: 32, memoryGiB: 256 },
      { name: 'pve2', ip: '10.0.0.12', cpus: 32, memoryGiB: 256 },
      { name: 'pve3', ip: '10.0.0.13', cpus: 32, memoryGiB: 256 },
    ],
    storages: [
      { id: 'local', type: 'dir', content: ['iso', 'vztmpl', 'backup'], totalGiB: 100 },
      {
        id: 'local-lvm',
        type: 'lvmthin',
        content: ['images', 'rootdir'],
        bandwidthGiBps: 1.5,
        totalGiB: 2000,
      },
      {
        id: 'cephpool',
        type: 'rbd',
        content: ['images', 'rootdir'],
        shared: true,
        bandwidthGiBps: 0.6,
        totalGiB: 20000,
      },
    ],
    pools: ['workers'],
    templates: [
      {
        vmid: DEFAULT_TEMPLATE_VMID,
        node: 'pve1',
        name: DEFAULT_TEMPLATE_NAME,
        template: true,
        storage: 'cephpool',
        disk: { size: 100, used: 10 },
        os: 'Rocky Linux 9.5 (Blue Onyx)',
        config: {
          agent: '1',
          cores: 2,
          sockets: 1,
          memory: '4096',
          ostype: 'l26',
          scsihw: 'virtio-scsi-single',
          boot: 'order=scsi0',
          ide2: 'cephpool:vm-9000-cloudinit,media=cdrom',
          net0: 'virtio=BC:24:11:00:90:00,bridge=vmbr0',
          ciuser: 'rocky',
          description: 'Rocky Linux 9 worker template (cloud-init, qemu-guest-agent)',
        },
      },
    ],
    network: {
      backupServer: '10.0.0.50',
      reachable: [],
      unreachable: [],
      dhcp: { vmbr0: '10.0.0.0/24' },
    },
  };
}

/**
 * A world with `nodes` nodes and `vms` extra VMs spread round-robin (benchmarks): the default storages and
 * template plus generated VMs `bench-<vmid>` on local-lvm, a share of them running.
 */
export function scaledWorld(nodes: number, vms: number, runningShare = 0.5): WorldConfig {
  const world = defaultWorld();
  world.nodes = Array.from({ length: nodes }, (_, i) => ({
    name: `pve${i + 1}`,
    ip: `10.0.${Math.floor((i + 11) / 250)}.${((i + 11) % 250) + 1}`,
    cpus: 64,
    memoryGiB: 512,
  }));
  world.generate = { vms, startVmid: 1000, runningShare };
  return world;
}

/** Spec of generated filler VM number i. */
export function generatedVm(i: number, world: WorldConfig): VmConfigSpec {
  const gen = world.generate ?? { vms: 0 };
  const vmid = (gen.startVmid ?? 1000) + i;
  const share = gen.runningShare ?? 0.5;
  return {
    vmid,
    node: world.nodes[i % world.nodes.length].name,
    name: `bench-${vmid}`,
    running: (i * 7919) % 1000 < share * 1000,
    tags: i % 3 === 0 ? 'bench;workerctl' : 'bench',
    storage: 'local-lvm',
    disk: { size: 32, used: 4 },
    config: { cores: 2, memory: '2048', net0: 'virtio,bridge=vmbr0', agent: '1' },
  };
}
