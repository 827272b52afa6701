import { expect } from 'chai';
import type { RunningSimulator } from '../../controller/simulator/index.js';
import { compilePattern, verifyParams } from '../../controller/simulator/schema/validate.js';
import { methodSchema } from '../../controller/simulator/schema/pve-schema.js';
import { call, fastSimulator } from './helpers.js';

const CONFIG = '/nodes/pve1/qemu/9000/config';

describe('simulator: PVE schema verification (pve-common PVE/JSONSchema.pm validate, PVE/RESTHandler.pm)', () => {
  let s: RunningSimulator;
  before(async () => {
    s = await fastSimulator();
  });
  after(() => s.close());
  beforeEach(() => s.sim.clearCallLog());

  async function refused(
    method: string,
    path: string,
    form: Record<string, string | string[]>,
  ): Promise<Record<string, string>> {
    const a = await call(s, method, path, { form });
    expect(a.status, JSON.stringify(a.json)).to.equal(400);
    expect(a.reason).to.equal('Parameter verification failed.');
    return a.json.errors ?? {};
  }

  it("refuses the boolean strings 'true', 'false' and 'True' in form bodies", async () => {
    for (const v of ['true', 'false', 'True', 'yes'])
      expect((await refused('PUT', CONFIG, { onboot: v })).onboot).to.equal(
        `type check ('boolean') failed - got '${v}'`,
      );
  });

  it('refuses unknown parameters', async () => {
    expect((await refused('PUT', CONFIG, { colour: 'blue' })).colour).to.equal(
      'property is not defined in schema and the schema does not allow additional properties',
    );
  });

  it('checks integers textually and reports minimum/maximum', async () => {
    expect((await refused('PUT', CONFIG, { cores: '2.5' })).cores).to.equal(
      "type check ('integer') failed - got '2.5'",
    );
    expect((await refused('PUT', CONFIG, { cores: '0' })).cores).to.equal(
      'value must have a minimum value of 1',
    );
    expect((await refused('POST', '/nodes/pve1/qemu/9000/clone', { newid: '99' })).newid).to.match(
      /VM ID|minimum/,
    );
  });

  it('checks named formats: dns-name, urlencoded, pve-tag-list, ipconfig', async () => {
    expect((await refused('PUT', CONFIG, { name: 'bad_name' })).name).to.match(
      /^invalid format - .*DNS name/,
    );
    expect((await refused('PUT', CONFIG, { name: '-lead' })).name).to.match(/^invalid format/);
    expect((await refused('PUT', CONFIG, { sshkeys: 'ssh-ed25519+AAAA' })).sshkeys).to.equal(
      'invalid format - invalid urlencoded string: ssh-ed25519+AAAA',
    );
    expect((await refused('PUT', CONFIG, { tags: 'ok;b@d' })).tags).to.match(/^invalid format - invalid tag/);
    expect((await refused('PUT', CONFIG, { ipconfig0: 'ip=dhcp,gw=10.0.0.1' })).ipconfig0).to.match(
      /gateway/,
    );
    expect((await call(s, 'PUT', CONFIG, { form: { name: 'a.b-c.d1' } })).status).to.equal(200);
  });

  it('checks property strings against their format object (net, agent)', async () => {
    expect((await refused('PUT', CONFIG, { net1: 'foo=1,bridge=vmbr0' })).net1).to.match(
      /^invalid format - format error/,
    );
    expect((await refused('PUT', CONFIG, { net1: 'virtio,bridge=vmbr0,tag=5000' })).net1).to.match(
      /tag.*maximum/,
    );
    expect((await refused('PUT', CONFIG, { agent: 'enabled=maybe' })).agent).to.match(/boolean/);
    expect(
      (await call(s, 'PUT', CONFIG, { form: { agent: 'enabled=1,fstrim_cloned_disks=1' } })).status,
    ).to.equal(200);
  });

  it('knows the index ranges of collapsed keys (net0-31)', async () => {
    expect((await refused('PUT', CONFIG, { net32: 'virtio,bridge=vmbr0' })).net32).to.match(
      /not defined in schema/,
    );
    expect((await call(s, 'PUT', CONFIG, { form: { net31: 'virtio,bridge=vmbr0' } })).status).to.equal(200);
  });

  it('checks patterns anchored and enums', async () => {
    expect(
      (await refused('PUT', '/nodes/pve1/qemu/9000/resize', { disk: 'scsi0', size: '10X' })).size,
    ).to.equal('value does not match the regex pattern');
    expect(
      (await refused('POST', '/nodes/pve1/qemu/9000/clone', { newid: '300', format: 'vdi' })).format,
    ).to.match(/does not have a value in the enumeration/);
  });

  it('reports missing required parameters', async () => {
    expect((await refused('POST', '/nodes/pve1/qemu/9000/clone', {})).newid).to.equal(
      'property is missing and it is not optional',
    );
  });

  it('turns duplicate form keys into a type error for plain strings, and joins them for -list parameters', async () => {
    expect((await refused('PUT', CONFIG, { description: ['a', 'b'] })).description).to.match(/type check/);
    await call(s, 'PUT', CONFIG, { form: { onboot: '1', protection: '0' } });
    const a = await call(s, 'PUT', CONFIG, { form: { delete: ['onboot', 'protection'] } });
    expect(a.status).to.equal(200);
    expect(s.sim.getVm(9000)?.config.onboot).to.equal(undefined);
  });

  it('records refused requests as schema violations (and only those)', async () => {
    await refused('PUT', CONFIG, { onboot: 'true' });
    await call(s, 'GET', '/version');
    const v = s.sim.schemaViolations();
    expect(v).to.have.length(1);
    expect(v[0].schemaViolations).to.deep.equal({ onboot: "type check ('boolean') failed - got 'true'" });
    expect(s.sim.callLog().map((c) => c.status)).to.deep.equal([400, 200]);
  });

  it('compiles Perl patterns: (?^: , (?^i: and atomic groups', () => {
    expect(compilePattern('(?^i:[a-z0-9_][a-z0-9_\\-\\+\\.]*)').test('ABC')).to.equal(true);
    expect(compilePattern('(?^:\\d+(?:;\\d+)*)').test('1;2')).to.equal(true);
    expect(compilePattern('(?>ab|a)c').test('abc')).to.equal(true);
    expect(compilePattern('\\d+').test('12a')).to.equal(false);
  });

  it('verifies every implemented endpoint against the loaded schema', () => {
    const schema = methodSchema('POST', '/nodes/{node}/qemu/{vmid}/agent/exec');
    const ok = verifyParams(schema, { node: 'pve1', vmid: '100', command: 'true' });
    expect(ok.errors).to.deep.equal({});
    expect(ok.params.command).to.deep.equal(['true']);
  });
});
