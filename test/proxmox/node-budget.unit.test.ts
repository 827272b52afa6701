/**
 * The per-node budget (pve-manager PVE/Service/pvedaemon.pm: 3 workers per node run every
 * `protected` call): at most perNode such calls in flight per node, at most agentPerNode of them
 * guest agent calls, calls pveproxy answers itself not counted. Which calls are `protected` is
 * checked against the vendored schema in schema-conformance.unit.test.ts.
 */
import { expect } from 'chai';
import { NodeBudget, budgetOf } from '../../controller/proxmox/node-budget.js';

/** A call that stays in flight until released; records how many ran at once per node. */
function gate() {
  const open: Array<() => void> = [];
  return {
    call: () => new Promise<void>((r) => open.push(r)),
    releaseAll: () => open.splice(0).forEach((r) => r()),
    get open() {
      return open.length;
    },
  };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('proxmox node budget', () => {
  it('keeps at most 3 protected calls in flight per node; other nodes and unprotected calls go on', async () => {
    const budget = new NodeBudget();
    const g = gate();
    const status = (node: string) =>
      budget.run('GET', `/nodes/${node}/qemu/100/status/current`, () => g.call());
    const pending = [1, 2, 3, 4, 5].map(() => status('pve1'));
    pending.push(status('pve2'));
    // GET config is answered by pveproxy: not counted, never waits.
    const config = budget.run('GET', '/nodes/pve1/qemu/100/config', () => Promise.resolve('cfg'));
    await tick();
    expect(await config).to.equal('cfg');
    expect(g.open).to.equal(4);
    expect(budget.usage().pve1).to.include({ inFlight: 3, waiting: 2 });
    expect(budget.usage().pve2).to.include({ inFlight: 1, waiting: 0 });
    while (g.open > 0) {
      g.releaseAll();
      await tick();
    }
    await Promise.all(pending);
    expect(budget.usage().pve1).to.include({ inFlight: 0, waiting: 0, peak: 3 });
  });

  it('lets one guest agent call per node run at a time, leaving workers for the rest', async () => {
    const budget = new NodeBudget();
    const g = gate();
    const ping = () => budget.run('POST', '/nodes/pve1/qemu/101/agent/ping', () => g.call());
    const pings = [ping(), ping(), ping()];
    const start = budget.run('POST', '/nodes/pve1/qemu/102/status/start', () => g.call());
    await tick();
    // One ping and the start are in flight; two pings wait without holding a node slot.
    expect(g.open).to.equal(2);
    expect(budget.usage().pve1).to.include({ inFlight: 2, agentInFlight: 1, agentWaiting: 2 });
    while (g.open > 0) {
      g.releaseAll();
      await tick();
    }
    await Promise.all([...pings, start]);
  });

  it('is configurable, and a waiting call gives up when its signal aborts', async () => {
    const budget = new NodeBudget({ perNode: 1 });
    const g = gate();
    const first = budget.run('DELETE', '/nodes/pve1/qemu/100', () => g.call());
    const ac = new AbortController();
    const second = budget.run('DELETE', '/nodes/pve1/qemu/101', () => g.call(), ac.signal);
    await tick();
    ac.abort(new Error('stop'));
    let err: unknown;
    await second.catch((e: unknown) => (err = e));
    expect(String(err)).to.contain('stop');
    g.releaseAll();
    await first;
    expect(budget.usage().pve1).to.include({ inFlight: 0, waiting: 0, peak: 1 });
  });

  it('names the node of a call, and the node we talk to for /cluster/status', () => {
    expect(budgetOf('POST', '/nodes/pve%2D3/qemu/9000/clone')).to.deep.equal({ node: 'pve-3', agent: false });
    expect(budgetOf('GET', '/cluster/resources')).to.equal(undefined);
    expect(budgetOf('GET', '/nodes/pve1/tasks')).to.equal(undefined);
  });
});
