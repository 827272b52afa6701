/** The address the proxmox-host check pings: --host-address, else GET /cluster/status, else the name. */
import { expect } from 'chai';
import { NodeAddresses } from '../../controller/lifecycle/node-addresses.js';
import type { ClusterNode } from '../../controller/proxmox/types.js';
import { FakeClock } from '../helpers/clock.js';

describe('node addresses', () => {
  const nodes: ClusterNode[] = [
    { name: 'pve1', ip: '10.0.0.11', online: true, local: true },
    { name: 'pve2', ip: '10.0.0.12', online: true, local: false },
    { name: 'pve3', online: false, local: false },
  ];

  it('takes the cluster address of a node, an override first, the name when the cluster has none', async () => {
    let reads = 0;
    const clock = new FakeClock();
    const a = new NodeAddresses(
      { clusterNodes: () => (reads++, Promise.resolve(nodes)) },
      { pve2: '192.168.5.2' },
      clock,
    );
    expect(await a.of('pve1')).to.equal('10.0.0.11');
    expect(await a.of('pve2')).to.equal('192.168.5.2');
    expect(await a.of('pve3')).to.equal('pve3');
    expect(reads).to.equal(1);
    await clock.advance(11 * 60_000);
    await a.of('pve1');
    expect(reads).to.equal(2);
  });

  it('falls back to the node name when GET /cluster/status fails, and asks again next time', async () => {
    let fail = true;
    const a = new NodeAddresses(
      { clusterNodes: () => (fail ? Promise.reject(new Error('403')) : Promise.resolve(nodes)) },
      {},
      new FakeClock(),
    );
    expect(await a.of('pve1')).to.equal('pve1');
    fail = false;
    expect(await a.of('pve1')).to.equal('10.0.0.11');
  });
});
