/**
 * Choosing a worker's deploy path (pure), as qemu-server PVE/API2/Qemu.pm allows it: clone_vm
 * refuses `target` with a non-shared storage and with any local template volume
 * ($check_storage_access_clone), move_vm_disk stays on its node, migrate_vm carries local disks but not
 * a local CD-ROM image (PVE/QemuMigrate.pm scan_local_volumes). And what a template must have.
 */
import { expect } from 'chai';
import {
  agentEnabled,
  chooseDeployPath,
  describePath,
  hasCloudinitDrive,
  stepsOf,
  type DeployFacts,
} from '../../controller/reconcile/deploy-path.js';
import type { PveStorage, VmResource } from '../../controller/proxmox/types.js';
import { workerSpec } from '../helpers/builders.js';

const storage = (id: string, shared: boolean, content = ['images']): PveStorage => ({
  storage: id,
  type: shared ? 'rbd' : 'lvmthin',
  content,
  shared,
  active: true,
  enabled: true,
});
const NODE_STORAGES = [
  storage('local-lvm', false),
  storage('cephpool', true),
  storage('local', false, ['iso']),
];

function facts(templates: Record<number, Record<string, string>>, perNode = NODE_STORAGES): DeployFacts {
  return {
    storages: new Map(['pve1', 'pve2', 'pve3'].map((n) => [n, perNode])),
    templates: new Map(Object.entries(templates).map(([k, v]) => [Number(k), v])),
  };
}

const tpl = (vmid: number, node: string, name = 'worker-template'): VmResource => ({
  vmid,
  node,
  name,
  type: 'qemu',
  status: 'stopped',
  template: true,
  tags: [],
});

const SHARED = {
  scsi0: 'cephpool:base-9000-disk-0,size=100G',
  ide2: 'cephpool:vm-9000-cloudinit,media=cdrom',
  agent: '1',
};
const LOCAL = {
  scsi0: 'local-lvm:base-9001-disk-0,size=20G',
  ide2: 'local-lvm:vm-9001-cloudinit,media=cdrom',
  agent: 'enabled=1,fstrim_cloned_disks=1',
};

describe('deploy path (pure)', () => {
  it('a template on the worker node: a local clone onto its storage', () => {
    const c = chooseDeployPath(
      workerSpec('w', { host: 'pve2' }),
      [tpl(9000, 'pve1'), tpl(9100, 'pve2')],
      facts({ 9000: SHARED, 9100: SHARED }),
    );
    expect(c).to.deep.include({ ok: true });
    if (!c.ok) return;
    expect(c.path).to.include({ kind: 'local', cloneNode: 'pve2', cloneStorage: 'local-lvm' });
    expect(c.path.template).to.deep.equal({ vmid: 9100, node: 'pve2', name: 'worker-template' });
    expect(stepsOf(c.path)).to.deep.equal(['clone', 'finish']);
  });

  it('a shared template to a shared storage on another node: clone with target', () => {
    const c = chooseDeployPath(
      workerSpec('w', { host: 'pve3', storage: 'cephpool' }),
      [tpl(9000, 'pve1')],
      facts({ 9000: SHARED }),
    );
    expect(c.ok && c.path).to.include({ kind: 'target', cloneNode: 'pve3', cloneStorage: 'cephpool' });
  });

  it('a shared template to local storage on another node: clone to the shared storage, then move_disk', () => {
    const c = chooseDeployPath(
      workerSpec('w', { host: 'pve2' }),
      [tpl(9000, 'pve1')],
      facts({ 9000: SHARED }),
    );
    if (!c.ok) throw new Error('no path');
    expect(c.path).to.include({
      kind: 'target-move',
      cloneNode: 'pve2',
      cloneStorage: 'cephpool',
      storage: 'local-lvm',
      disk: 'scsi0',
    });
    expect(stepsOf(c.path)).to.deep.equal(['clone', 'move-disk', 'finish']);
    expect(describePath(c.path)).to.equal(
      'clone worker-template (vm 9000 on pve1) to cephpool on pve2, then move disk scsi0 to local-lvm',
    );
  });

  it('a local template to another node: clone on its node, then migrate offline with targetstorage', () => {
    const c = chooseDeployPath(
      workerSpec('w', { host: 'pve3' }),
      [tpl(9001, 'pve1')],
      facts({ 9001: LOCAL }),
    );
    if (!c.ok) throw new Error('no path');
    expect(c.path).to.include({
      kind: 'migrate',
      cloneNode: 'pve1',
      cloneStorage: 'local-lvm',
      node: 'pve3',
    });
    expect(stepsOf(c.path)).to.deep.equal(['clone', 'migrate', 'finish']);
  });

  it('no path: a local CD-ROM image, no shared storage on both nodes, a storage the node lacks; each names the worker and the fix', () => {
    const iso = { ...LOCAL, ide2: 'local:iso/rocky.iso,media=cdrom' };
    const c1 = chooseDeployPath(
      workerSpec('w1', { host: 'pve2' }),
      [tpl(9001, 'pve1')],
      facts({ 9001: iso }),
    );
    expect(c1).to.deep.include({ ok: false, code: 'NoDeployPath' });
    expect(!c1.ok && c1.code !== 'Unknown' && c1.message).to.match(
      /^worker w1: .*CD-ROM.*qm set 9001 --ide2 none/,
    );

    const noShared = facts({ 9000: SHARED }, [storage('local-lvm', false)]);
    (noShared.storages as Map<string, PveStorage[]>).set('pve1', [
      storage('local-lvm', false),
      storage('cephpool', true),
    ]);
    const c2 = chooseDeployPath(workerSpec('w2', { host: 'pve2' }), [tpl(9000, 'pve1')], noShared);
    expect(!c2.ok && c2.code !== 'Unknown' && c2.message).to.match(
      /^worker w2: .*no shared storage .* on both pve1 and pve2/,
    );

    const c3 = chooseDeployPath(
      workerSpec('w3', { storage: 'fast-nvme' }),
      [tpl(9000, 'pve1')],
      facts({ 9000: SHARED }),
    );
    expect(!c3.ok && c3.code !== 'Unknown' && c3.message).to.match(
      /storage fast-nvme does not exist on pve1.*content 'images'/,
    );
  });

  it('template checks: a disk on a known bus, the guest agent, a cloud-init drive when the worker needs one', () => {
    const staticWorker = workerSpec('w', {
      networks: [{ bridge: 'vmbr0', ipv4: { address: '10.0.0.5/24' } }],
    });
    const dnsWorker = workerSpec('w', { dns: { servers: ['10.0.0.53'] } });
    const check = (cfg: Record<string, string>, spec = workerSpec('w')) =>
      chooseDeployPath(spec, [tpl(9000, 'pve1')], facts({ 9000: cfg }));
    expect(check({ ...SHARED, agent: '0' })).to.deep.include({ ok: false, code: 'TemplateCheckFailed' });
    expect(check({ ide2: SHARED.ide2, agent: '1' })).to.deep.include({
      ok: false,
      code: 'TemplateCheckFailed',
    });
    const noCi = { scsi0: SHARED.scsi0, agent: '1' };
    expect(check(noCi).ok).to.equal(true); // DHCP and dns auto need no cloud-init
    for (const spec of [staticWorker, dnsWorker]) {
      const c = check(noCi, spec);
      expect(c).to.deep.include({ ok: false, code: 'TemplateCheckFailed' });
      expect(!c.ok && c.code !== 'Unknown' && c.message).to.contain('qm set 9000 --ide2 STORAGE:cloudinit');
    }
    expect(agentEnabled({ agent: 'enabled=1' })).to.equal(true);
    expect(agentEnabled({ agent: 'fstrim_cloned_disks=1' })).to.equal(false);
    expect(hasCloudinitDrive({ sata1: 'local-lvm:vm-100-cloudinit,media=cdrom' })).to.equal(true);
  });

  it('unknown facts and a missing template', () => {
    expect(chooseDeployPath(workerSpec('w'), [tpl(9000, 'pve1')], undefined)).to.deep.include({
      ok: false,
      code: 'Unknown',
    });
    const none = chooseDeployPath(workerSpec('w', { template: 'nope' }), [tpl(9000, 'pve1')], facts({}));
    expect(none).to.deep.include({ ok: false, code: 'TemplateNotFound' });
  });
});
