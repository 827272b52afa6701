/**
 * Clone bandwidth and storage-lock contention are per node for a non-shared storage (each node's
 * local-lvm is its own disk and lock) and cluster-wide for a shared one (cephpool).
 */
import { expect } from 'chai';
import { defaultWorld } from '../../controller/simulator/index.js';
import type { WorldConfig } from '../../controller/simulator/index.js';
import { call, fastSimulator, waitTask } from './helpers.js';

/** A copy of template 9000 (on cephpool) as template 9000+i on node i, so every node can clone locally. */
function templatePerNode(world: WorldConfig): WorldConfig {
  const base = (world.templates ?? [])[0];
  world.templates = world.nodes.map((n, i) => ({
    ...base,
    vmid: 9000 + i,
    node: n.name,
    name: `worker-template-${n.name}`,
    config: { ...base.config, ide2: `cephpool:vm-${9000 + i}-cloudinit,media=cdrom` },
  }));
  return world;
}

describe('simulator: clone storage keyed per node for local storage', () => {
  it('counts parallel clones to local-lvm per node and to cephpool cluster-wide', async () => {
    const world = templatePerNode(defaultWorld());
    // Slow copies, so every clone is still copying when we look.
    for (const st of world.storages ?? []) st.bandwidthGiBps = 0.01;
    const s = await fastSimulator({ world, latency: 'realistic', timeScale: 1000 });
    try {
      // a clone to local-lvm runs on the node of its source (clone_vm refuses `target` with non-shared storage)
      const clone = async (newid: number, node: string, storage: string, target?: string) =>
        (
          await call(s, 'POST', `/nodes/${node}/qemu/${9000 + Number(node.slice(3)) - 1}/clone`, {
            form: { newid: String(newid), full: '1', storage, ...(target ? { target } : {}) },
          })
        ).json.data as string;
      // Left running (close() stops them): they copy while we look.
      const clones: [number, string, string, string?][] = [
        [500, 'pve1', 'local-lvm'],
        [501, 'pve2', 'local-lvm'],
        [502, 'pve2', 'local-lvm'],
        [503, 'pve1', 'cephpool'],
        [504, 'pve1', 'cephpool', 'pve3'],
      ];
      for (const [id, node, storage, target] of clones)
        expect(await clone(id, node, storage, target)).to.match(/^UPID:/);
      const want = { 'pve1/local-lvm': 1, 'pve2/local-lvm': 2, cephpool: 2 };
      let seen: Record<string, number> = {};
      for (let i = 0; i < 400; i++) {
        seen = Object.fromEntries([...s.sim.activeClones].filter(([, n]) => n > 0));
        if (JSON.stringify(Object.entries(seen).sort()) === JSON.stringify(Object.entries(want).sort()))
          break;
        await new Promise((r) => setTimeout(r, 5));
      }
      expect(seen).to.deep.equal(want);
    } finally {
      await s.close();
    }
  });

  it('eight parallel clones to the local-lvm of eight nodes never hit a storage lock timeout', async () => {
    const world = defaultWorld();
    world.nodes = Array.from({ length: 8 }, (_, i) => ({
      name: `pve${i + 1}`,
      ip: `10.0.0.${11 + i}`,
      cpus: 32,
      memoryGiB: 256,
    }));
    templatePerNode(world);
    const s = await fastSimulator({ world, latency: 'realistic', timeScale: 4000, seed: 3 });
    try {
      const upids = await Promise.all(
        world.nodes.map(
          async (n, i) =>
            (
              await call(s, 'POST', `/nodes/${n.name}/qemu/${9000 + i}/clone`, {
                form: { newid: String(600 + i), full: '1', storage: 'local-lvm' },
              })
            ).json.data as string,
        ),
      );
      const exits = await Promise.all(upids.map(async (u) => (await waitTask(s, u, 20000)).exitstatus));
      expect(exits).to.deep.equal(Array(8).fill('OK'));
    } finally {
      await s.close();
    }
  });
});
