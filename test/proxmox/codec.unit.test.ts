/** Codec: PVE's mixed wire types read leniently into our domain types; tokens and URLs validated. */
import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, UsageError } from '../../controller/errors.js';
import { isLoopbackHost, normaliseApiUrl } from '../../controller/proxmox/base-url.js';
import * as codec from '../../controller/proxmox/codec.js';
import { asBool, asInt } from '../../controller/proxmox/lenient.js';
import { parseToken, readToken } from '../../controller/proxmox/token.js';
import { TEST_SECRET, TEST_TOKEN } from '../helpers/wire-server.js';

describe('proxmox codec', () => {
  it('reads integers and booleans in every form PVE sends them', () => {
    expect([asInt(101), asInt('101'), asInt('4096'), asInt('x'), asInt(1.5)]).to.deep.equal([
      101,
      101,
      4096,
      undefined,
      undefined,
    ]);
    expect([
      asBool(1),
      asBool(0),
      asBool('1'),
      asBool('0'),
      asBool(true),
      asBool('true'),
      asBool(undefined),
    ]).to.deep.equal([true, false, true, false, true, true, false]);
  });

  it('reads nextid as a string or a number', () => {
    expect(codec.toVmid('100')).to.equal(100);
    expect(codec.toVmid(100)).to.equal(100);
    expect(() => codec.toVmid(null)).to.throw(codec.UnexpectedAnswerError);
  });

  it('reads GET pending: applied and pending values as strings, deletes, the digest apart', () => {
    const p = codec.toVmPending([
      { key: 'cores', value: 2, pending: 6 },
      { key: 'memory', value: '4096', pending: '6144' },
      { key: 'name', value: 'w1' },
      { key: 'onboot', value: 1, delete: 1 },
      { key: 'sshkeys', value: 'ssh-ed25519%20AAAA%20a%40b' },
      { key: 'digest', value: 'abc123' },
      { value: 'no key: skipped' },
    ]);
    expect(p.digest).to.equal('abc123');
    expect(p.entries).to.deep.equal([
      { key: 'cores', value: '2', pending: '6' },
      { key: 'memory', value: '4096', pending: '6144' },
      { key: 'name', value: 'w1' },
      { key: 'onboot', value: '1', delete: true },
      { key: 'sshkeys', value: 'ssh-ed25519 AAAA a@b' },
    ]);
  });

  it('returns every config value as a string, decodes sshkeys and keeps the digest apart', () => {
    const cfg = codec.toVmConfig({
      cores: 2,
      memory: '4096',
      onboot: 1,
      name: 'w-1',
      sshkeys: 'ssh-ed25519%20AAAA%20a%40b%0A',
      digest: 'd1',
      cpulimit: '1.5',
    });
    expect(cfg).to.deep.equal({
      values: {
        cores: '2',
        memory: '4096',
        onboot: '1',
        name: 'w-1',
        sshkeys: 'ssh-ed25519 AAAA a@b\n',
        cpulimit: '1.5',
      },
      digest: 'd1',
    });
  });

  it('reads cluster resources: numeric vmids, lagging entries without a name, tags normalised, non-VMs skipped', () => {
    const res = codec.toVmResources([
      { id: 'qemu/101', vmid: 101, node: 'pve1', type: 'qemu', status: 'unknown' },
      {
        id: 'qemu/102',
        vmid: '102',
        node: 'pve2',
        type: 'qemu',
        status: 'running',
        name: 'w',
        template: 0,
        tags: 'Worker;k8s',
        lock: 'clone',
        maxmem: 1024,
      },
      { id: 'storage/pve1/local', type: 'storage', node: 'pve1' },
    ]);
    expect(res).to.deep.equal([
      { vmid: 101, node: 'pve1', type: 'qemu', status: 'unknown', template: false, tags: [] },
      {
        vmid: 102,
        node: 'pve2',
        type: 'qemu',
        status: 'running',
        template: false,
        tags: ['k8s', 'worker'],
        name: 'w',
        lock: 'clone',
        maxmem: 1024,
      },
    ]);
  });

  it('reads task status: OK and WARNINGS are success, anything else is not', () => {
    const base = {
      upid: 'U',
      node: 'pve1',
      type: 'qmstart',
      id: '101',
      user: 'u@pve',
      starttime: 5,
      status: 'stopped',
    };
    expect(codec.toTaskStatus({ ...base, exitstatus: 'OK' }, 'U', 'pve1')).to.include({
      succeeded: true,
      warnings: 0,
    });
    expect(codec.toTaskStatus({ ...base, exitstatus: 'WARNINGS: 3' }, 'U', 'pve1')).to.include({
      succeeded: true,
      warnings: 3,
    });
    expect(codec.toTaskStatus({ ...base, exitstatus: 'VM 101 already running' }, 'U', 'pve1')).to.include({
      succeeded: false,
    });
    expect(codec.toTaskStatus({ ...base, status: 'running' }, 'U', 'pve1')).to.not.have.property('succeeded');
  });

  it('reads guest interfaces and exec status from the agent result wrapper', () => {
    expect(
      codec.toGuestInterfaces({
        result: [
          {
            name: 'lo',
            'hardware-address': '00:00:00:00:00:00',
            'ip-addresses': [{ 'ip-address': '127.0.0.1', 'ip-address-type': 'ipv4', prefix: 8 }],
          },
          {
            name: 'eth0',
            'ip-addresses': [{ 'ip-address': 'fe80::1', 'ip-address-type': 'ipv6', prefix: '64' }],
          },
        ],
      }),
    ).to.deep.equal([
      {
        name: 'lo',
        hardwareAddress: '00:00:00:00:00:00',
        ipAddresses: [{ address: '127.0.0.1', prefix: 8, type: 'ipv4' }],
      },
      { name: 'eth0', ipAddresses: [{ address: 'fe80::1', prefix: 64, type: 'ipv6' }] },
    ]);
    expect(codec.toExecStatus({ exited: 1, exitcode: 0, 'out-data': 'hi\n' })).to.deep.equal({
      exited: true,
      exitCode: 0,
      outData: 'hi\n',
    });
    expect(codec.toExecStatus({ exited: 0 })).to.deep.equal({ exited: false });
  });

  it('reads storages with content lists and 0/1 flags', () => {
    expect(
      codec.toStorages([
        {
          storage: 'local-lvm',
          type: 'lvmthin',
          content: 'rootdir,images',
          active: 1,
          enabled: 1,
          shared: 0,
          avail: '100',
        },
      ]),
    ).to.deep.equal([
      {
        storage: 'local-lvm',
        type: 'lvmthin',
        content: ['rootdir', 'images'],
        shared: false,
        active: true,
        enabled: true,
        avail: 100,
      },
    ]);
  });

  it('normalises the base url', () => {
    expect(normaliseApiUrl('https://pve1:8006').href).to.equal('https://pve1:8006/api2/json');
    expect(normaliseApiUrl('https://pve1:8006/api2/json/').href).to.equal('https://pve1:8006/api2/json');
    expect(normaliseApiUrl('https://proxy/pve/').href).to.equal('https://proxy/pve/api2/json');
    expect(() => normaliseApiUrl('pve1:8006')).to.throw(UsageError);
    expect(() => normaliseApiUrl('https://root:pw@pve1:8006')).to.throw(UsageError, /credentials/);
    expect(isLoopbackHost(new URL('http://127.0.0.1:1'))).to.equal(true);
    expect(isLoopbackHost(new URL('http://[::1]:1'))).to.equal(true);
    expect(isLoopbackHost(new URL('http://pve1:8006'))).to.equal(false);
  });
});

describe('proxmox tokens', () => {
  it('parses USER@REALM!TOKENID=SECRET, with or without PVEAPIToken=', () => {
    const t = parseToken(`PVEAPIToken=${TEST_TOKEN}\n`);
    expect(t).to.include({
      tokenId: 'workerctl@pve!ci',
      user: 'workerctl',
      realm: 'pve',
      name: 'ci',
      secret: TEST_SECRET,
    });
    expect(t.value).to.equal(TEST_TOKEN);
  });

  it('reads the token from a file (trimmed) or from WORKERCTL_TOKEN', () => {
    const dir = mkdtempSync(join(tmpdir(), 'workerctl-token-'));
    const file = join(dir, 'token');
    writeFileSync(file, `  ${TEST_TOKEN}\n\n`);
    expect(readToken({ tokenFile: file, env: {} }).value).to.equal(TEST_TOKEN);
    expect(readToken({ env: { WORKERCTL_TOKEN: ` ${TEST_TOKEN} ` } }).value).to.equal(TEST_TOKEN);
  });

  it('rejects malformed tokens with a clear error that never echoes the secret', () => {
    const bad = [
      'root@pam=0b6f0e43-secret-value',
      'root@pam!ci',
      'nonsense 0b6f0e43-secret-value',
      'root!ci=0b6f0e43-secret-value',
    ];
    for (const b of bad) {
      const err = (() => {
        try {
          parseToken(b, 'WORKERCTL_TOKEN');
        } catch (e) {
          return e as Error;
        }
        throw new Error(`accepted ${b}`);
      })();
      expect(err).to.be.instanceOf(ConfigError);
      expect(err.message).to.match(
        /invalid proxmox api token in WORKERCTL_TOKEN: expected USER@REALM!TOKENID=SECRET/,
      );
      expect(err.message).not.to.contain('secret-value');
    }
  });

  it('names the missing source', () => {
    expect(() => readToken({ env: {} })).to.throw(ConfigError, /--token-file FILE or set WORKERCTL_TOKEN/);
    expect(() => readToken({ tokenFile: '/nonexistent/token', env: {} })).to.throw(
      ConfigError,
      /cannot read token file \/nonexistent\/token: ENOENT/,
    );
  });
});
