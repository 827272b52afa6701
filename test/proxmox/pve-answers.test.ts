/**
 * How the client classifies real PVE answers (issue 10 point 7), against the simulator that follows
 * Proxmox's code; each case names the Proxmox function whose behaviour it relies on.
 */
import { expect } from 'chai';
import {
  ApiValidationError,
  ChecksumMismatchError,
  LockedError,
  NotFoundError,
} from '../../controller/errors.js';
import { createProxmoxClient, type HttpProxmoxClient } from '../../controller/proxmox/http-client.js';
import { startSimulator, type RunningSimulator } from '../../controller/simulator/index.js';

describe('proxmox client: real PVE answers, classified (simulator)', function () {
  this.timeout(20_000);
  let sim: RunningSimulator;
  let client: HttpProxmoxClient;
  const fail = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (e: unknown) => e,
    );

  beforeEach(async () => {
    sim = await startSimulator({ latency: 'fast', authFailureDelayMs: 0 });
    client = createProxmoxClient({
      url: sim.url,
      auth: { kind: 'token', token: sim.token },
      timeScale: sim.sim.latency.pveTimeScale,
    });
  });
  afterEach(async () => {
    client.close();
    await sim.close();
  });

  it('start, stop and shutdown of a missing VM: a task that fails, reported as NotFoundError (qemu-server API2/Qemu.pm vm_start/vm_stop fork first; QemuServer.pm vm_stop, AbstractConfig.pm load_config)', async () => {
    for (const op of ['start', 'stop', 'shutdown'] as const) {
      const task = await client[op]('pve1', 4242);
      expect(task.upid).to.match(/^UPID:pve1:/);
      const err = await fail(client.waitForTask(task, { timeoutMs: 5_000 }));
      expect(err, op).to.be.instanceOf(NotFoundError);
    }
  });

  it('stop of a stopped VM is OK although it is locked (QemuServer.pm check_running before check_lock)', async () => {
    sim.sim.createForeignVm({ vmid: 500, node: 'pve1', name: 'x', config: { lock: 'backup' } });
    const st = await client.waitForTask(await client.stop('pve1', 500), { timeoutMs: 5_000 });
    expect(st.succeeded).to.equal(true);
  });

  it('clone refusals are request errors, not retried: target onto local storage, storage with a linked clone (API2/Qemu.pm clone_vm $load_and_check)', async () => {
    const local = await fail(
      client.clone('pve1', 9000, { newid: 300, target: 'pve2', storage: 'local-lvm', full: true }),
    );
    expect(local).to.be.instanceOf(ApiValidationError);
    expect(String(local)).to.contain("can't clone to non-shared storage 'local-lvm'");
    const linked = await fail(client.clone('pve1', 9000, { newid: 300, storage: 'cephpool', full: false }));
    expect(linked).to.be.instanceOf(ApiValidationError);
    const noImages = await fail(client.clone('pve1', 9000, { newid: 300, storage: 'local', full: true }));
    expect(noImages).to.be.instanceOf(ApiValidationError);
    expect((noImages as ApiValidationError).errors?.storage).to.contain('does not support vm images');
  });

  it('a token cannot skiplock, unlocking through the API is refused on a locked VM, a stale digest is a checksum mismatch (API2/Qemu.pm update_vm_api, AbstractConfig.pm check_lock)', async () => {
    sim.sim.createForeignVm({ vmid: 501, node: 'pve1', name: 'y', config: { lock: 'clone' } });
    const skip = await fail(client.updateConfig('pve1', 501, { set: {}, delete: ['lock'], skiplock: true }));
    expect(skip).to.be.instanceOf(ApiValidationError);
    expect((skip as ApiValidationError).errors?.skiplock).to.equal('Only root may use this option.');
    const unlock = await fail(client.updateConfig('pve1', 501, { set: {}, delete: ['lock'] }));
    expect(unlock).to.be.instanceOf(LockedError);
    sim.sim.createForeignVm({ vmid: 502, node: 'pve1', name: 'z' });
    const { digest } = await client.getConfig('pve1', 502);
    sim.sim.editVmConfig(502, { cores: 3 });
    const stale = await fail(client.updateConfig('pve1', 502, { set: { cores: 4 }, digest }));
    expect(stale).to.be.instanceOf(ChecksumMismatchError);
    const unknown = await fail(client.updateConfig('pve1', 502, { set: {}, delete: ['bogus'] }));
    expect(unknown).to.be.instanceOf(ApiValidationError);
    expect(String(unknown)).to.contain("unknown option 'bogus'");
  });

  it('an unauthenticated request to an unknown path is a 401 (pve-manager HTTPServer.pm auth_handler runs before routing)', async () => {
    const res = await fetch(`${sim.url}/api2/json/nodes/pve1/no-such-path`);
    expect(res.status).to.equal(401);
    expect(res.headers.get('content-type')).to.equal(null); // an HTTP-layer error: no JSON body
  });
});
