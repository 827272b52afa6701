import { expect } from 'chai';
import {
  diskSizeGiB,
  diskStorage,
  formatNet,
  normalizeTags,
  normalizeValue,
  observedValue,
  parseNet,
  primaryDiskKey,
} from '../../controller/reconcile/normalize.js';
import {
  desiredConfig,
  markerLine,
  parseMarker,
  stripMarker,
} from '../../controller/reconcile/desired-config.js';
import { buildConfigChange, diffConfig } from '../../controller/reconcile/diff.js';
import { eagerSpec as spec } from '../helpers/builders.js';

describe('normalize: PVE read-back equals what we wrote', () => {
  const same: [string, string, string][] = [
    ['tags', 'Worker,k8s', 'k8s;worker'],
    ['tags', 'b a;a  c', 'a;b;c'],
    ['memory', 'current=4096', '4096'],
    ['memory', '4096', '4096'],
    ['agent', '1', 'enabled=1'],
    ['onboot', 'true', '0'.replace('0', '1')],
    ['description', 'text\nworkerctl: worker=w uid=u\n\n  ', 'text\nworkerctl: worker=w uid=u'],
    ['description', 'a\r\nb', 'a\nb'],
    ['nameserver', '10.0.0.53   10.0.0.54', '10.0.0.53 10.0.0.54'],
    ['net0', 'virtio,bridge=vmbr0,tag=20', 'virtio=BC:24:11:12:34:56,bridge=vmbr0,tag=20'],
    [
      'net0',
      'model=virtio,macaddr=bc:24:11:12:34:56,tag=20,bridge=vmbr0',
      'virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,tag=20',
    ],
    ['ipconfig0', 'gw=10.0.0.1,ip=10.0.0.5/24', 'ip=10.0.0.5/24,gw=10.0.0.1'],
    ['cores', '06', '6'],
  ];
  for (const [key, a, b] of same) {
    it(`${key}: ${JSON.stringify(a)} ~ ${JSON.stringify(b)}`, () => {
      expect(normalizeValue(key, a)).to.equal(normalizeValue(key, b));
    });
  }

  const different: [string, string, string][] = [
    ['net0', 'virtio,bridge=vmbr0,tag=20', 'virtio,bridge=vmbr0,tag=30'],
    ['net0', 'virtio,bridge=vmbr0', 'e1000,bridge=vmbr0'],
    ['net0', 'virtio,bridge=vmbr0', 'virtio,bridge=vmbr0,firewall=1'],
    ['tags', 'workerctl', 'workerctl;extra'],
    ['memory', '4096', '6144'],
  ];
  for (const [key, a, b] of different) {
    it(`${key}: ${JSON.stringify(a)} differs from ${JSON.stringify(b)}`, () => {
      expect(normalizeValue(key, a)).to.not.equal(normalizeValue(key, b));
    });
  }

  it('absent keys read as PVE defaults', () => {
    expect(observedValue({}, 'sockets')).to.equal('1');
    expect(observedValue({}, 'onboot')).to.equal('0');
    expect(observedValue({}, 'nameserver')).to.equal(undefined);
  });

  it('net values round-trip through parse and format, keeping the MAC', () => {
    const text = 'virtio=BC:24:11:12:34:56,bridge=vmbr0,firewall=1,tag=10';
    expect(formatNet(parseNet(text))).to.equal(text);
    expect(parseNet('model=e1000,macaddr=aa:bb:cc:dd:ee:ff')).to.deep.include({
      model: 'e1000',
      mac: 'AA:BB:CC:DD:EE:FF',
    });
  });

  it('disk sizes and storages', () => {
    expect(diskSizeGiB('local-lvm:vm-101-disk-0,size=32G')).to.equal(32);
    expect(diskSizeGiB('local-lvm:vm-101-disk-0,size=512M')).to.equal(0.5);
    expect(diskSizeGiB('local-lvm:vm-101-disk-0,size=1T')).to.equal(1024);
    expect(diskSizeGiB('local-lvm:vm-101-disk-0')).to.equal(undefined);
    expect(diskStorage('cephpool:vm-101-disk-0,size=32G')).to.equal('cephpool');
    expect(
      primaryDiskKey({
        ide2: 'local-lvm:vm-1-cloudinit,media=cdrom',
        virtio1: 'x:y,size=1G',
        scsi0: 'x:z,size=2G',
      }),
    ).to.equal('scsi0');
    expect(primaryDiskKey({ ide2: 'none,media=cdrom', virtio0: 'x:y,size=1G' })).to.equal('virtio0');
  });

  it('normalizeTags drops empty entries and duplicates', () => {
    expect(normalizeTags(' ;Workerctl;;workerctl ')).to.equal('workerctl');
  });
});

describe('desired config', () => {
  it('maps a spec to PVE keys', () => {
    const cfg = desiredConfig(
      spec('w1', {
        cpus: 4,
        memoryGiB: 6,
        networks: [
          { bridge: 'vmbr0', vlan: 20, ipv4: { address: '10.0.20.15/24', gateway: '10.0.20.1' } },
          { bridge: 'vmbr1', ipv4: 'dhcp' },
        ],
        dns: { servers: ['10.0.0.53'] },
      }),
      { ownerTag: 'WorkerCtl', uid: 'u1' },
    );
    expect(cfg).to.include({
      name: 'w1',
      cores: '4',
      sockets: '1',
      memory: '6144',
      tags: 'workerctl',
      onboot: '0',
      agent: '1',
      nameserver: '10.0.0.53',
      net0: 'virtio,bridge=vmbr0,tag=20',
      ipconfig0: 'ip=10.0.20.15/24,gw=10.0.20.1',
      net1: 'virtio,bridge=vmbr1',
      ipconfig1: 'ip=dhcp',
      description: 'test worker\nworkerctl: worker=w1 uid=u1',
    });
    expect('net2' in cfg && cfg.net2 === undefined).to.equal(true);
  });

  it('dns auto leaves nameserver unset (and removes one left over)', () => {
    const cfg = desiredConfig(spec('w1'), { ownerTag: 'workerctl', uid: 'u' });
    expect(cfg.nameserver).to.equal(undefined);
    const changes = diffConfig(cfg, { nameserver: '1.1.1.1' }, false).filter((c) => c.field === 'nameserver');
    expect(changes).to.have.length(1);
    expect(buildConfigChange(cfg, { nameserver: '1.1.1.1' }, ['nameserver'])).to.deep.equal({
      set: {},
      delete: ['nameserver'],
    });
  });

  it('the marker round-trips and can be stripped', () => {
    const d = `notes\n${markerLine('w1', 'abc')}`;
    expect(parseMarker(d)).to.deep.equal({ worker: 'w1', uid: 'abc' });
    expect(stripMarker(d)).to.equal('notes');
    expect(parseMarker('no marker here')).to.equal(undefined);
  });

  it('a NIC change keeps the MAC PVE gave it', () => {
    const cfg = desiredConfig(spec('w1', { networks: [{ bridge: 'vmbr5', vlan: 7, ipv4: 'dhcp' }] }), {
      ownerTag: 'workerctl',
      uid: 'u',
    });
    const body = buildConfigChange(cfg, { net0: 'virtio=BC:24:11:12:34:56,bridge=vmbr0,tag=20' }, ['net0']);
    expect(body.set.net0).to.equal('virtio=BC:24:11:12:34:56,bridge=vmbr5,tag=7');
  });

  it('restart-class keys are live on a stopped VM and restart on a running one', () => {
    const cfg = desiredConfig(spec('w1', { cpus: 8 }), { ownerTag: 'workerctl', uid: 'u' });
    const observed = { cores: '6' };
    expect(diffConfig(cfg, observed, false).find((c) => c.field === 'cores')!.class).to.equal('live');
    expect(diffConfig(cfg, observed, true).find((c) => c.field === 'cores')!.class).to.equal('restart');
  });
});
