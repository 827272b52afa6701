/** The request-rate half of the per-node budget, the endpoint templates of the metrics, and read-backs. */
import { expect } from 'chai';
import { endpointTemplate, LOCAL_NODE, NodeBudget, nodeOf } from '../../controller/proxmox/node-budget.js';
import { mayNormalise } from '../../controller/reconcile/execute/configure.js';

describe('node budget: requests per second', () => {
  it('starts at most ratePerNode requests of a node in any window of one server second', async () => {
    // timeScale 100: one server second is 10 real ms.
    const budget = new NodeBudget({ ratePerNode: 3, timeScale: 100 });
    const starts: number[] = [];
    const other: number[] = [];
    const call = (path: string, into: number[]) =>
      budget.run('GET', path, async () => {
        into.push(performance.now());
      });
    await Promise.all([
      ...Array.from({ length: 9 }, () => call('/nodes/pve1/qemu/100/config', starts)),
      ...Array.from({ length: 3 }, () => call('/nodes/pve2/qemu/200/config', other)),
    ]);
    expect(starts).to.have.length(9);
    // The 4th start waits for the 1st to leave the window (less a timer's rounding).
    for (let i = 3; i < starts.length; i++) expect(starts[i]! - starts[i - 3]!).to.be.at.least(9);
    // Another node's requests have a budget of their own: no waiting.
    expect(other[2]! - other[0]!).to.be.below(9);
    const u = budget.usage();
    expect(u.pve1!.requests).to.equal(9);
    // The 4th and the 7th wait (the ones after them find the window emptied meanwhile).
    expect(u.pve1!.rateWaits.count).to.be.at.least(2);
    expect(u.pve1!.rateWaits.ms).to.be.greaterThan(0);
    expect(u.pve2!.rateWaits.count).to.equal(0);
  });

  it('no rate by default (0): the CLI sets one (--api-rate-per-node)', () => {
    const b = new NodeBudget();
    expect(b.view().requestsPerSecondPerNode).to.equal(0);
    expect(b.view().callsPerNode).to.equal(3);
  });

  it('keys cluster-wide calls to the local node and paths to their node', () => {
    expect(nodeOf('/cluster/resources')).to.equal(LOCAL_NODE);
    expect(nodeOf('/nodes/pve%2D1/tasks')).to.equal('pve-1');
  });

  it('names endpoints by template (bounded label values)', () => {
    expect(endpointTemplate('/nodes/pve7/qemu/4242/config')).to.equal('/nodes/{node}/qemu/{vmid}/config');
    expect(endpointTemplate('/nodes/pve1/tasks/UPID%3Apve1%3A00/status')).to.equal(
      '/nodes/{node}/tasks/{upid}/status',
    );
    expect(endpointTemplate('/nodes/pve1/storage/local-lvm/content?x=1')).to.equal(
      '/nodes/{node}/storage/{storage}/content',
    );
    expect(endpointTemplate('/cluster/resources')).to.equal('/cluster/resources');
  });
});

describe('configure: read back only what PVE may normalise', () => {
  for (const [key, value, expected] of [
    ['cores', 4, false],
    ['memory', '4096', false],
    ['name', 'worker-01', false],
    ['onboot', true, false],
    ['net0', 'virtio,bridge=vmbr0', true],
    ['scsi0', 'local-lvm:vm-100-disk-0,size=100G', true],
    ['tags', 'workerctl', true],
    ['description', 'plain', true],
    ['ipconfig0', 'ip=dhcp', true],
  ] as const) {
    it(`${key}=${String(value)}: ${expected ? 'read back' : 'stored as sent'}`, () => {
      expect(mayNormalise(key, value)).to.equal(expected);
    });
  }
});
