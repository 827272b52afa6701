import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadManifests, loadManifestSource } from '../../controller/manifest/load.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { positionOf, workerDoc, yamlDocs, type AnyDoc } from '../helpers/manifests.js';

type Net = Record<string, unknown>;

function withNetworks(name: string, networks: Net[], extra?: (d: AnyDoc) => void) {
  return workerDoc(name, (d) => {
    d.spec.networks = networks;
    d.spec.dns = { servers: ['10.0.0.53'] };
    extra?.(d);
  });
}

function codes(text: string): string[][] {
  return loadManifestSource('/m/w.yaml', text).diagnostics.map((d) => [d.severity, d.code, d.pointer]);
}

describe('spec: semantic checks', () => {
  const cases: { name: string; docs: unknown[]; want: string[][] }[] = [
    {
      name: 'gateway outside the subnet',
      docs: [withNetworks('w', [{ bridge: 'vmbr0', ipv4: { address: '10.0.0.5/24', gateway: '10.0.1.1' } }])],
      want: [['error', 'semantic.gateway-outside-subnet', '/spec/networks/0/ipv4/gateway']],
    },
    {
      name: 'gateway equal to the address',
      docs: [withNetworks('w', [{ bridge: 'vmbr0', ipv4: { address: '10.0.0.5/24', gateway: '10.0.0.5' } }])],
      want: [['error', 'semantic.gateway-is-address', '/spec/networks/0/ipv4/gateway']],
    },
    {
      name: 'gateway on the broadcast address',
      docs: [
        withNetworks('w', [{ bridge: 'vmbr0', ipv4: { address: '10.0.0.5/24', gateway: '10.0.0.255' } }]),
      ],
      want: [['error', 'semantic.reserved-address', '/spec/networks/0/ipv4/gateway']],
    },
    {
      name: 'gateway on a network other than the first',
      docs: [
        withNetworks('w', [
          { bridge: 'vmbr0', ipv4: 'dhcp' },
          { bridge: 'vmbr1', ipv4: { address: '10.0.20.5/24', gateway: '10.0.20.1' } },
        ]),
      ],
      want: [['error', 'semantic.gateway-not-first', '/spec/networks/1/ipv4/gateway']],
    },
    {
      name: 'network address as host address',
      docs: [withNetworks('w', [{ bridge: 'vmbr0', ipv4: { address: '10.0.0.0/24' } }])],
      want: [['error', 'semantic.reserved-address', '/spec/networks/0/ipv4/address']],
    },
    {
      name: 'broadcast address as host address',
      docs: [withNetworks('w', [{ bridge: 'vmbr0', ipv4: { address: '10.0.3.255/22' } }])],
      want: [['error', 'semantic.reserved-address', '/spec/networks/0/ipv4/address']],
    },
    {
      name: 'dns auto (explicit) without a DHCP network',
      docs: [
        withNetworks(
          'w',
          [{ bridge: 'vmbr0', ipv4: { address: '10.0.0.5/24' } }],
          (d) => (d.spec.dns = 'auto'),
        ),
      ],
      want: [['error', 'semantic.dns-auto-without-dhcp', '/spec/dns']],
    },
    {
      name: 'dns auto (the default) without a DHCP network',
      docs: [
        withNetworks('w', [{ bridge: 'vmbr0', ipv4: { address: '10.0.0.5/24' } }], (d) => delete d.spec.dns),
      ],
      want: [['error', 'semantic.dns-auto-without-dhcp', '/spec/dns']],
    },
    {
      name: 'the same bridge and vlan twice',
      docs: [
        withNetworks('w', [
          { bridge: 'vmbr0', vlan: 20, ipv4: 'dhcp' },
          { bridge: 'vmbr0', vlan: 20, ipv4: 'dhcp' },
        ]),
      ],
      want: [['error', 'semantic.duplicate-network', '/spec/networks/1']],
    },
    {
      name: 'overlapping subnets on one worker (warning)',
      docs: [
        withNetworks('w', [
          { bridge: 'vmbr0', ipv4: { address: '10.0.0.5/24' } },
          { bridge: 'vmbr1', ipv4: { address: '10.0.0.6/16' } },
        ]),
      ],
      want: [['warning', 'semantic.overlapping-subnets', '/spec/networks/1/ipv4/address']],
    },
    {
      name: 'a proxy while updates are off (warning)',
      docs: [workerDoc('w', (d) => (d.spec.updates = { enabled: false, proxy: { host: 'proxy.lan' } }))],
      want: [['warning', 'semantic.proxy-without-updates', '/spec/updates/proxy']],
    },
    {
      name: 'a passwordFile without a username',
      docs: [
        workerDoc('w', (d) => (d.spec.updates = { proxy: { host: 'proxy.lan', passwordFile: '/etc/pw' } })),
      ],
      want: [['error', 'semantic.password-without-username', '/spec/updates/proxy/passwordFile']],
    },
    {
      name: 'fewer vCPUs than the sizing rule (warning)',
      docs: [workerDoc('w', (d) => Object.assign(d.spec, { maxConcurrentTasks: 10, cpus: 6 }))],
      want: [['warning', 'semantic.undersized', '/spec/cpus']],
    },
    {
      name: 'a quoted vmid as template (warning)',
      docs: [workerDoc('w', (d) => (d.spec.template = '9000'))],
      want: [['warning', 'semantic.template-quoted-vmid', '/spec/template']],
    },
    {
      name: 'the same name twice in one file (both reported)',
      docs: [workerDoc('dup'), workerDoc('dup')],
      want: [
        ['error', 'semantic.duplicate-name', '/metadata/name'],
        ['error', 'semantic.duplicate-name', '/metadata/name'],
      ],
    },
    {
      name: 'the same static address on two workers (both reported)',
      docs: [
        withNetworks('a', [{ bridge: 'vmbr0', ipv4: { address: '10.0.0.5/24' } }]),
        withNetworks('b', [{ bridge: 'vmbr0', ipv4: { address: '10.0.0.5/16' } }]),
      ],
      want: [
        ['error', 'semantic.duplicate-address', '/spec/networks/0/ipv4/address'],
        ['error', 'semantic.duplicate-address', '/spec/networks/0/ipv4/address'],
      ],
    },
  ];
  for (const tc of cases) {
    it(`reports ${tc.name}`, () => {
      expect(codes(yamlDocs(...tc.docs))).to.deep.equal(tc.want);
    });
  }

  const fine: { name: string; docs: unknown[] }[] = [
    {
      name: 'a /31 point-to-point address',
      docs: [withNetworks('w', [{ bridge: 'vmbr0', ipv4: { address: '10.0.0.0/31', gateway: '10.0.0.1' } }])],
    },
    {
      name: 'a /32 address without gateway',
      docs: [withNetworks('w', [{ bridge: 'vmbr0', ipv4: { address: '10.0.0.7/32' } }])],
    },
    {
      name: 'the same bridge on two VLANs',
      docs: [
        withNetworks('w', [
          { bridge: 'vmbr0', ipv4: 'dhcp' },
          { bridge: 'vmbr0', vlan: 30, ipv4: 'dhcp' },
        ]),
      ],
    },
    {
      name: 'dns auto with DHCP on the second network only',
      docs: [
        withNetworks(
          'w',
          [
            { bridge: 'vmbr0', ipv4: { address: '10.0.0.5/24', gateway: '10.0.0.1' } },
            { bridge: 'vmbr1', ipv4: 'dhcp' },
          ],
          (d) => (d.spec.dns = 'auto'),
        ),
      ],
    },
    {
      name: 'sizes above the rule',
      docs: [workerDoc('w', (d) => Object.assign(d.spec, { maxConcurrentTasks: 2, cpus: 4, memoryGiB: 8 }))],
    },
    { name: 'a template vmid as a number', docs: [workerDoc('w', (d) => (d.spec.template = 9000))] },
  ];
  for (const tc of fine) {
    it(`accepts ${tc.name}`, () => {
      expect(codes(yamlDocs(...tc.docs))).to.deep.equal([]);
    });
  }

  it('points at both places of a name used in two files, and keeps neither file (invariant 1)', async () => {
    const tmp = makeTempDir();
    try {
      const a = yamlDocs(workerDoc('other'), workerDoc('dup'));
      const b = `# comment\n${yamlDocs(workerDoc('dup'))}`;
      writeFileSync(join(tmp.path, 'a.yaml'), a);
      writeFileSync(join(tmp.path, 'b.yaml'), b);
      const pa = positionOf(a, 'dup');
      const pb = positionOf(b, 'dup');
      const res = await loadManifests([tmp.path]);
      const dups = res.diagnostics.filter((d) => d.code === 'semantic.duplicate-name');
      expect(dups.map((d) => [d.file, d.line, d.col])).to.deep.equal([
        [join(tmp.path, 'a.yaml'), ...pa],
        [join(tmp.path, 'b.yaml'), ...pb],
      ]);
      expect(dups[0]!.message).to.contain(`b.yaml:${pb.join(':')}`);
      expect(dups[1]!.message).to.contain(`a.yaml:${pa.join(':')}`);
      expect(res.invalidFiles).to.deep.equal([join(tmp.path, 'a.yaml'), join(tmp.path, 'b.yaml')]);
      expect(res.workers).to.deep.equal([]);
    } finally {
      tmp.remove();
    }
  });

  it('finds a duplicate address across files read by the fast path, located like the full path', async () => {
    const tmp = makeTempDir();
    try {
      const net = [{ bridge: 'vmbr0', ipv4: { address: '10.0.0.9/24' } }];
      const a = yamlDocs(withNetworks('a', net));
      const b = yamlDocs(workerDoc('x'), withNetworks('b', net));
      writeFileSync(join(tmp.path, 'a.yaml'), a);
      writeFileSync(join(tmp.path, 'b.yaml'), b);
      const fast = await loadManifests([tmp.path]);
      const full = await loadManifests([tmp.path], { fastPath: false });
      const where = (r: typeof fast) => r.diagnostics.map((d) => [d.code, d.file, d.line, d.col, d.message]);
      expect(where(fast)).to.deep.equal(where(full));
      expect(where(fast).map((x) => x.slice(2, 4))).to.deep.equal([
        positionOf(a, '10.0.0.9/24'),
        positionOf(b, '10.0.0.9/24'),
      ]);
    } finally {
      tmp.remove();
    }
  });
});
