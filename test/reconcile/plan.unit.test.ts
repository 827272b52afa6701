import { expect } from 'chai';
import { planFleet, planWorker, type PlanContext } from '../../controller/reconcile/plan.js';
import type { ActionKind, ChangeClass } from '../../controller/reconcile/contracts.js';
import type { VmResource } from '../../controller/proxmox/types.js';
import type { WorkerRecord } from '../../controller/types.js';
import {
  OWNER,
  deployed,
  pveConfig,
  workerRecord as record,
  eagerSpec as spec,
  vm,
} from '../helpers/builders.js';

interface Case {
  name: string;
  record: WorkerRecord;
  resources: VmResource[];
  configs?: Record<number, Record<string, string>>;
  /** Expected [kind, class] per action, in order. */
  expect: [ActionKind, ChangeClass][];
  /** Text that must appear in the reason or blockedBy of some action. */
  mentions?: string;
}

function ctx(c: Case): PlanContext {
  return {
    resources: c.resources,
    configs: new Map(Object.entries(c.configs ?? {}).map(([k, v]) => [Number(k), v])),
    ownerTag: OWNER,
  };
}

const base = deployed(spec('w1'), 101);
const busy = (r: WorkerRecord, n = 2, phase: 'Working' | 'ShutDown' = 'Working'): WorkerRecord => ({
  ...r,
  status: { ...r.status, phase, sessions: Array.from({ length: n }, (_, i) => `s-${i}`) },
});
const newSpec = (r: WorkerRecord, over: Parameters<typeof spec>[1]): WorkerRecord => ({
  ...r,
  spec: spec(r.name, over),
  generation: r.generation + 1,
});

const cases: Case[] = [
  {
    name: 'create: Eager worker without a vm is cloned',
    record: record(spec('w1')),
    resources: [],
    expect: [['create', 'live']],
  },
  {
    name: 'create: OnDemand worker without a vm gets nothing',
    record: record(spec('w1', { deploy: 'OnDemand' })),
    resources: [],
    expect: [],
  },
  {
    name: 'create: OnDemand worker is deployed once the lifecycle wants it',
    record: record(spec('w1', { deploy: 'OnDemand' }), { wantDeployed: true }),
    resources: [],
    expect: [['create', 'live']],
  },
  {
    name: 'create: a vm that vanished is cloned again',
    record: base,
    resources: [],
    expect: [['create', 'live']],
    mentions: 'vm 101 is gone',
  },
  {
    name: 'no-op after convergence, with PVE normalised read-back (MACs, sorted tags, string memory)',
    record: base,
    resources: [vm(101)],
    configs: { 101: pveConfig(base, { memory: 'current=6144', agent: 'enabled=1' }) },
    expect: [],
  },
  { name: 'no-op when the config was not read this pass', record: base, resources: [vm(101)], expect: [] },
  {
    name: 'cpus on a stopped vm: live',
    record: newSpec(base, { cpus: 8 }),
    resources: [vm(101)],
    configs: { 101: pveConfig(base) },
    expect: [['configure', 'live']],
    mentions: 'cpus 6 -> 8',
  },
  {
    name: 'cpus on a running idle vm: configure then restart',
    record: newSpec(base, { cpus: 8 }),
    resources: [vm(101, { status: 'running' })],
    configs: { 101: pveConfig(base) },
    expect: [
      ['configure', 'restart'],
      ['restart', 'restart'],
    ],
  },
  {
    name: 'WhenIdle: memory on a running vm with sessions waits',
    record: busy(newSpec(base, { memoryGiB: 8 })),
    resources: [vm(101, { status: 'running' })],
    configs: { 101: pveConfig(base) },
    expect: [['wait', 'restart']],
    mentions: 'waiting for 2 sessions to end',
  },
  {
    name: 'Immediate: memory on a running vm with sessions is applied',
    record: busy(newSpec(base, { memoryGiB: 8, applyChanges: 'Immediate' })),
    resources: [vm(101, { status: 'running' })],
    configs: { 101: pveConfig(base) },
    expect: [
      ['configure', 'restart'],
      ['restart', 'restart'],
    ],
  },
  {
    name: 'WhenIdle: live changes go ahead while restart changes wait',
    record: busy(newSpec(base, { cpus: 8, description: 'new text' })),
    resources: [vm(101, { status: 'running' })],
    configs: { 101: pveConfig(base) },
    expect: [
      ['configure', 'live'],
      ['wait', 'restart'],
    ],
  },
  {
    name: 'network bridge and vlan: live (hot-plug)',
    record: busy(newSpec(base, { networks: [{ bridge: 'vmbr1', vlan: 30, ipv4: 'dhcp' }] })),
    resources: [vm(101, { status: 'running' })],
    configs: { 101: pveConfig(base) },
    expect: [['configure', 'live']],
    mentions: 'networks[0]',
  },
  {
    name: 'static address and dns servers: live',
    record: newSpec(base, {
      networks: [{ bridge: 'vmbr0', vlan: 20, ipv4: { address: '10.0.20.15/24', gateway: '10.0.20.1' } }],
      dns: { servers: ['10.0.0.53'] },
    }),
    resources: [vm(101)],
    configs: { 101: pveConfig(base) },
    expect: [['configure', 'live']],
    mentions: 'dns (unset) -> 10.0.0.53',
  },
  {
    name: 'a NIC left over from the template is removed',
    record: base,
    resources: [vm(101)],
    configs: { 101: pveConfig(base, { net1: 'e1000=BC:24:11:AA:BB:CC,bridge=vmbr9' }) },
    expect: [['configure', 'live']],
    mentions: 'networks[1]',
  },
  {
    name: 'host change: redeploy',
    record: newSpec(base, { host: 'pve2' }),
    resources: [vm(101)],
    configs: { 101: pveConfig(base) },
    expect: [['redeploy', 'redeploy']],
  },
  {
    name: 'storage change: redeploy',
    record: newSpec(base, { storage: 'ceph' }),
    resources: [vm(101)],
    configs: { 101: pveConfig(base) },
    expect: [['redeploy', 'redeploy']],
  },
  {
    name: 'template change while Working and WhenIdle: waits',
    record: busy(newSpec(base, { template: 'worker-template-v2' }), 1),
    resources: [vm(101, { status: 'running' })],
    expect: [['wait', 'redeploy']],
    mentions: 'waiting for 1 session to end',
  },
  {
    name: 'disk grow: live resize',
    record: newSpec(base, { diskGiB: 120 }),
    resources: [vm(101)],
    configs: { 101: pveConfig(base) },
    expect: [['resize', 'live']],
  },
  {
    name: 'disk shrink: refused',
    record: newSpec(base, { diskGiB: 50 }),
    resources: [vm(101)],
    configs: { 101: pveConfig(base) },
    expect: [['resize', 'destructive']],
    mentions: 'DiskShrinkRefused',
  },
  {
    name: 'drift: cores changed in the Proxmox UI are put back',
    record: base,
    resources: [vm(101)],
    configs: { 101: pveConfig(base, { cores: '2' }) },
    expect: [['configure', 'live']],
    mentions: 'cpus 2 -> 6 (drift)',
  },
  {
    name: 'removal: shut down and delete',
    record: { ...base, removeRequestedAt: '2026-01-01T00:00:00Z' },
    resources: [vm(101, { status: 'running' })],
    expect: [['delete', 'destructive']],
  },
  {
    name: 'removal: deferred while Working',
    record: busy({ ...base, removeRequestedAt: '2026-01-01T00:00:00Z' }, 1),
    resources: [vm(101, { status: 'running' })],
    expect: [['wait', 'destructive']],
    mentions: 'waiting for 1 session to end',
  },
  {
    name: 'removal: deferred while phase Working even without a session id',
    record: busy({ ...base, removeRequestedAt: '2026-01-01T00:00:00Z' }, 0),
    resources: [vm(101, { status: 'running' })],
    expect: [['wait', 'destructive']],
  },
  {
    name: 'removal: Immediate goes ahead while Working',
    record: busy({ ...newSpec(base, { applyChanges: 'Immediate' }), removeRequestedAt: 'x' }, 1),
    resources: [vm(101, { status: 'running' })],
    expect: [['delete', 'destructive']],
  },
  {
    name: 'removal: Orphan keeps the vm',
    record: { ...newSpec(base, { deletionPolicy: 'Orphan' }), removeRequestedAt: 'x' },
    resources: [vm(101)],
    expect: [['orphan', 'live']],
  },
  {
    name: 'removal: the vm is already gone, the record is dropped',
    record: { ...base, removeRequestedAt: 'x' },
    resources: [],
    expect: [['forget', 'none']],
  },
  {
    name: 'conflict: a foreign vm with the worker name blocks the create',
    record: record(spec('w1')),
    resources: [vm(300, { name: 'w1', tags: [] })],
    expect: [['conflict', 'none']],
    mentions: 'vm 300',
  },
  {
    name: 'conflict: a foreign vm at the recorded vmid (no owner tag) is left alone',
    record: base,
    resources: [vm(101, { name: 'w1', tags: ['other'] })],
    configs: { 101: pveConfig(base, { cores: '1' }) },
    expect: [['conflict', 'none']],
  },
  {
    name: 'conflict: our tag but another worker marker at the recorded vmid',
    record: base,
    resources: [vm(101, { name: 'w1' })],
    configs: { 101: pveConfig(base, { description: 'workerctl: worker=w1 uid=someone-else' }) },
    expect: [['conflict', 'none']],
  },
  {
    name: 'conflict: removal never deletes a foreign vm at the recorded vmid',
    record: { ...base, removeRequestedAt: 'x' },
    resources: [vm(101, { tags: [] })],
    expect: [['forget', 'none']],
  },
  {
    name: 'an intent in flight is resumed first',
    record: { ...base, intent: { op: 'clone', node: 'pve1', vmid: 101, upid: 'UPID:x', startedAt: 'x' } },
    resources: [vm(101, { lock: 'clone', tags: [] })],
    expect: [['resume', 'none']],
  },
  {
    name: 'a locked vm waits',
    record: newSpec(base, { cpus: 8 }),
    resources: [vm(101, { lock: 'backup' })],
    configs: { 101: pveConfig(base) },
    expect: [['wait', 'none']],
  },
];

describe('plan (pure)', () => {
  for (const c of cases) {
    it(c.name, () => {
      const plan = planWorker(c.record, ctx(c));
      expect(plan.actions.map((a) => [a.kind, a.class])).to.deep.equal(c.expect);
      if (c.mentions) {
        const text = plan.actions.map((a) => `${a.reason} ${a.blockedBy ?? ''}`).join('\n');
        expect(text).to.contain(c.mentions);
      }
    });
  }

  it('is deterministic: workers in name order, the same input gives the same plan', () => {
    const records = [record(spec('b')), record(spec('a')), record(spec('c', { deploy: 'OnDemand' }))];
    const c = { resources: [], configs: new Map(), ownerTag: OWNER };
    const p1 = planFleet(records, c);
    const p2 = planFleet([...records].reverse(), c);
    expect(p1).to.deep.equal(p2);
    expect(p1.actions.map((a) => a.worker)).to.deep.equal(['a', 'b']);
    expect(p1.converged).to.equal(false);
  });

  it('reports the mass-delete guard and is then not converged', () => {
    const plan = planFleet(
      [],
      { resources: [], configs: new Map(), ownerTag: OWNER },
      {
        wouldDelete: 3,
        of: 3,
        threshold: 'x',
      },
    );
    expect(plan.converged).to.equal(false);
    expect(plan.massDeleteBlocked?.wouldDelete).to.equal(3);
  });
});

describe('plan (pure): pending restart-class changes', () => {
  // Spec cores 8, written while the vm ran: GET config shows 8, GET …/pending says 6 is in effect.
  const rec = newSpec(base, { cpus: 8 });
  const configs = new Map([[101, pveConfig(rec)]]);
  const pending = new Map([[101, new Map([['cores', '6']])]]);
  const kinds = (c: PlanContext, r = rec) =>
    planWorker(r, c).actions.map((a) => [a.kind, a.class, a.blockedBy ?? '']);

  it('a running vm with pending cores is restarted, or waits while sessions are open', () => {
    const c: PlanContext = { resources: [vm(101, { status: 'running' })], configs, ownerTag: OWNER, pending };
    expect(kinds(c)).to.deep.equal([['restart', 'restart', '']]);
    expect(kinds(c, busy(rec, 1))).to.deep.equal([['wait', 'restart', 'waiting for 1 session to end']]);
    expect(planWorker(rec, { ...c, pending: new Map() }).actions).to.deep.equal([]);
  });

  it('pending keys outweigh a listing that says stopped, unless a fresh status read says so too', () => {
    const c: PlanContext = { resources: [vm(101, { status: 'stopped' })], configs, ownerTag: OWNER, pending };
    expect(kinds(c)).to.deep.equal([['restart', 'restart', '']]);
    // Stopped for sure: a config write applies what is pending (PVE does so on any write to a stopped vm).
    expect(kinds({ ...c, power: new Map([[101, 'stopped']]) })).to.deep.equal([['configure', 'live', '']]);
  });
});
