import { expect } from 'chai';
import { markerLine } from '../../controller/reconcile/desired-config.js';
import {
  adoptionMarks,
  checkAdoption,
  planRecovery,
  type MarkedVm,
} from '../../controller/reconcile/takeover.js';
import type { LoadedWorker } from '../../controller/types.js';
import { OWNER, deployed, vm, workerSpec } from '../helpers/builders.js';

const loaded = (name: string, over = {}): LoadedWorker => ({
  spec: workerSpec(name, { cpus: 6, ...over }),
  source: { file: `/m/${name}.yaml`, line: 1, col: 1 },
  specHash: `hash-${name}`,
});
const foreignConfig = {
  name: 'old',
  cores: '2',
  memory: '6144',
  scsi0: 'local-lvm:vm-150-disk-0,size=100G',
  tags: 'prod',
};

describe('adopt: which vm may become a worker, and what apply does then', () => {
  const base = (over: Partial<Parameters<typeof checkAdoption>[0]> = {}) => {
    const v = vm(150, { name: 'old', tags: ['prod'] });
    return checkAdoption({
      worker: loaded('w1'),
      records: [],
      vm: v,
      config: foreignConfig,
      resources: [v],
      ownerTag: OWNER,
      uid: 'u-new',
      ...over,
    });
  };

  it('writes the owner tag beside the vm tags and the marker under its description; the plan shows the rest', () => {
    expect(adoptionMarks({ tags: 'prod', description: 'made by hand\n' }, 'w1', 'u1', OWNER)).to.deep.equal({
      tags: 'prod;workerctl',
      description: `made by hand\n${markerLine('w1', 'u1')}`,
    });
    const check = base();
    expect(check.refusals).to.deep.equal([]);
    expect(check.done).to.equal(false);
    expect(check.after.map((a) => a.kind)).to.deep.equal(['configure']);
    expect(check.after[0]!.reason).to.match(/cpus 2 -> 6/);
    expect(check.after[0]!.reason).to.match(/name old -> w1/);
  });

  it("refuses a template, a locked vm, another worker's vm or marker, a second vm with the name, and a redeploy", () => {
    expect(base({ vm: vm(150, { template: true }) }).refusals.join()).to.match(/is a template/);
    expect(base({ vm: vm(150, { lock: 'backup', tags: [] }) }).refusals.join()).to.match(
      /is locked \(backup\)/,
    );
    expect(base({ records: [deployed(workerSpec('w9'), 150)] }).refusals.join()).to.match(
      /already worker w9's/,
    );
    const cloning = deployed(workerSpec('w1'), 170, {
      intent: { op: 'clone', node: 'pve1', vmid: 170, startedAt: '2026-01-01T00:00:00Z' },
    });
    expect(base({ record: cloning, records: [cloning] }).refusals.join()).to.match(
      /has a Proxmox call in flight \(clone of vm 170\)/,
    );
    expect(
      base({ config: { ...foreignConfig, description: markerLine('w9', 'u9') } }).refusals.join(),
    ).to.match(/carries the marker of worker w9/);
    const twin = vm(151, { name: 'w1', tags: [], node: 'pve2' });
    expect(base({ resources: [vm(150, { tags: ['prod'] }), twin] }).refusals.join()).to.match(
      /vm 151 on pve2 is named w1 too: .* ambiguous/,
    );
    expect(base({ vm: vm(150, { node: 'pve2', tags: ['prod'] }) }).refusals.join()).to.match(
      /would redeploy it: spec.host pve2 -> pve1/,
    );
    expect(
      base({ config: { ...foreignConfig, scsi0: 'cephpool:vm-150-disk-0,size=100G' } }).refusals.join(),
    ).to.match(/would redeploy it: spec.storage cephpool -> local-lvm/);
  });

  it("a vm that already is the worker's is done", () => {
    const rec = deployed(workerSpec('w1'), 150);
    const check = base({
      record: rec,
      records: [rec],
      vm: vm(150, { name: 'w1' }),
      config: { ...foreignConfig, description: markerLine('w1', rec.uid!) },
      uid: rec.uid!,
    });
    expect(check).to.include({ done: true });
  });
});

describe('recover: records rebuilt from the owner tag and marker', () => {
  const marked = (vmid: number, worker: string | undefined, uid = `u-${worker}`, over = {}): MarkedVm => ({
    vm: vm(vmid, { name: worker, node: 'pve2', ...over }),
    config: {
      ...(worker ? { description: `notes\n${markerLine(worker, uid)}` } : {}),
      scsi0: `local-lvm:vm-${vmid}-disk-0,size=100G`,
    },
  });

  it('one marked vm per declared worker gives its record back: vmid, node, the marker uid', () => {
    const verdicts = planRecovery(
      [loaded('w1', { host: 'pve2' })],
      [],
      [marked(101, 'w1')],
      '2026-01-01T00:00:00Z',
    );
    expect(verdicts).to.have.length(1);
    const v = verdicts[0]!;
    if (v.kind !== 'recover') throw new Error(v.kind);
    expect(v.record).to.include({ name: 'w1', vmid: 101, node: 'pve2', uid: 'u-w1' });
    expect(v.record.deployed).to.deep.equal({
      template: 'worker-template',
      storage: 'local-lvm',
      host: 'pve2',
    });
    expect(v.record.status.history.at(-1)!.action).to.equal('recovered');
  });

  it('refuses what is ambiguous and leaves alone what is not declared or not marked', () => {
    const verdicts = planRecovery(
      [loaded('w1'), loaded('w2'), loaded('w4')],
      [deployed(workerSpec('w4'), 140)],
      [
        marked(101, 'w1'),
        marked(102, 'w1', 'u-copy'),
        marked(103, 'w3'),
        marked(104, undefined),
        marked(105, 'w2', 'u-w2', { lock: 'clone' }),
        marked(140, 'w4'),
      ],
      'now',
    );
    expect(verdicts.map((v) => [v.worker, v.kind])).to.deep.equal([
      ['w1', 'ambiguous'],
      ['w2', 'ambiguous'],
      ['w3', 'undeclared'],
      ['w4', 'recorded'],
      [undefined, 'unmarked'],
    ]);
    const w1 = verdicts[0]!;
    expect(w1.kind === 'ambiguous' && w1.reason).to.match(
      /vms 101, 102 all carry the marker of w1 \(different uids\)/,
    );
  });
});
