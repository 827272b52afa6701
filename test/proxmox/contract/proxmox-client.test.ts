/**
 * Contract suite for the Proxmox client: the same operations against the simulator (always, over
 * HTTP) and against a real Proxmox VE when PVE_URL and PVE_TOKEN are set (plus PVE_NODE,
 * PVE_TEMPLATE_VMID, PVE_STORAGE, and PVE_FINGERPRINT / PVE_CA_FILE / PVE_INSECURE for TLS).
 * Against the simulator it also drives every fault class through the client, and finally checks
 * that every request the client sent passed the real PVE schema.
 */
import { expect } from 'chai';
import {
  AgentUnavailableError,
  AuthError,
  LockTimeoutError,
  LockedError,
  NotFoundError,
  ProxmoxError,
  TaskFailedError,
  TlsError,
  TransientError,
  UnknownNodeError,
  WaitTimeoutError,
} from '../../../controller/errors.js';
import { createProxmoxClient, type HttpProxmoxClient } from '../../../controller/proxmox/http-client.js';
import type { CallInfo } from '../../../controller/proxmox/options.js';
import type { TaskRef } from '../../../controller/proxmox/types.js';
import { startSimulator, type RunningSimulator } from '../../../controller/simulator/index.js';
import { defineClientContract, type Target } from './client-contract.js';

const FAST = {
  retry: { baseDelayMs: 5, maxDelayMs: 20, jitter: 0 },
};

describe('contract: proxmox client against the simulator', function () {
  this.timeout(60_000);
  let running: RunningSimulator;
  let client: HttpProxmoxClient;
  let calls: CallInfo[] = [];
  let target: Target;

  before(async () => {
    running = await startSimulator({ latency: 'fast', authFailureDelayMs: 0, seed: 7 });
    client = createProxmoxClient({
      url: running.url,
      auth: { kind: 'token', token: running.token },
      tls: running.fingerprint ? { fingerprint: running.fingerprint } : undefined,
      onCall: (c) => calls.push(c),
      timeScale: running.sim.latency.pveTimeScale,
      ...FAST,
    });
    target = {
      client,
      node: 'pve1',
      templateVmid: 9000,
      storage: 'local-lvm',
      taskTimeoutMs: 20_000,
      agentTimeoutMs: 20_000,
      moveStorage: 'cephpool',
      migrateNode: 'pve2',
    };
  });
  after(async () => {
    client?.close();
    await running?.close();
  });
  beforeEach(() => {
    calls = [];
    running.sim.clearFaults();
  });

  describe('operations', () => defineClientContract(() => target));

  describe('fault classes through the client', () => {
    let vmid: number;
    const sent = (operation: string) => calls.filter((c) => c.operation === operation).length;

    before(async () => {
      vmid = await client.nextId();
      await client.waitForTask(
        await client.clone('pve1', 9000, { newid: vmid, name: 'wctl-faults', full: false }),
      );
    });
    after(async () => {
      running.sim.clearFaults();
      await client.waitForTask(await client.stop('pve1', vmid)).catch(() => undefined);
      await client.waitForTask(await client.deleteVm('pve1', vmid, { purge: true })).catch(() => undefined);
    });

    it('error answers: a GET failing with 596 twice is retried and succeeds; a persistent one surfaces', async () => {
      running.sim.setFault({ kind: 'status596', method: 'GET', path: '^/cluster/resources$', count: 2 });
      expect((await client.vmResources()).some((r) => r.vmid === vmid)).to.equal(true);
      expect(sent('vmResources')).to.equal(3);
      running.sim.setFault({ kind: 'status596', method: 'GET', path: '^/version$' });
      expect(await client.version().catch((e: unknown) => e)).to.be.instanceOf(TransientError);
    });

    it('error rates: injected 500s map to typed errors with the message', async () => {
      running.sim.setFault({
        kind: 'error',
        method: 'GET',
        path: '/status/current$',
        status: 500,
        message: 'VM is locked (backup)',
        count: 1,
      });
      const err = await client.status('pve1', vmid).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(LockedError);
      expect((err as Error).message).to.contain('VM is locked (backup)');
      expect((await client.status('pve1', vmid)).vmid).to.equal(vmid);
    });

    it('error rates: reads ride out a 30% error rate; a failing POST is never sent twice', async () => {
      running.sim.setFault({ kind: 'status596', method: 'GET', path: '/status/current$', rate: 0.3 });
      for (let i = 0; i < 20; i++) expect((await client.status('pve1', vmid)).vmid).to.equal(vmid);
      expect(sent('status')).to.be.greaterThan(20); // some were retried
      running.sim.clearFaults();
      running.sim.setFault({
        kind: 'error',
        method: 'POST',
        path: '/status/stop$',
        rate: 0.5,
        status: 500,
        message: 'injected',
      });
      let failed = 0;
      for (let i = 0; i < 10; i++) {
        const r = await client.stop('pve1', vmid).catch((e: unknown) => e);
        if (r instanceof ProxmoxError) failed++;
        else await client.waitForTask(r as TaskRef);
      }
      expect(failed).to.be.within(1, 9);
      expect(sent('stop')).to.equal(10);
    });

    it('596 on a POST: TransientError and the clone is never sent twice', async () => {
      running.sim.setFault({ kind: 'status596', method: 'POST', path: '/clone$' });
      const newid = await client.nextId();
      const err = await client.clone('pve1', 9000, { newid, name: 'wctl-596' }).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(TransientError);
      expect(sent('clone')).to.equal(1);
      running.sim.clearFaults();
      await running.sim.idle();
      const leftover = running.sim.getVm(newid);
      if (leftover) {
        await client.waitForTask(await client.deleteVm('pve1', newid, { purge: true }));
      }
    });

    it('dropped connections: a GET is retried, a POST start is not re-sent', async () => {
      running.sim.setFault({ kind: 'drop', method: 'GET', path: '/config$', count: 1 });
      expect((await client.getConfig('pve1', vmid)).values.name).to.equal('wctl-faults');
      expect(sent('getConfig')).to.equal(2);
      running.sim.setFault({ kind: 'drop', method: 'POST', path: '/status/start$', count: 1 });
      expect(await client.start('pve1', vmid).catch((e: unknown) => e)).to.be.instanceOf(TransientError);
      expect(sent('start')).to.equal(1);
    });

    it('lock contention: PUT config retries a flock timeout; a config lock is LockedError', async () => {
      running.sim.setFault({ kind: 'lockTimeout', method: 'PUT', path: '/config$', vmid, count: 1 });
      await client.updateConfig('pve1', vmid, { set: { description: 'after lock timeout' } });
      expect(sent('updateConfig')).to.equal(2);
      expect(calls.find((c) => c.operation === 'updateConfig')?.error).to.be.instanceOf(LockTimeoutError);
      running.sim.editVmConfig(vmid, { lock: 'backup' });
      try {
        expect(
          await client.updateConfig('pve1', vmid, { set: { cores: 3 } }).catch((e: unknown) => e),
        ).to.be.instanceOf(LockedError);
      } finally {
        running.sim.editVmConfig(vmid, { lock: null });
      }
    });

    it('failing tasks: TaskFailedError with the exit status and the log tail', async () => {
      running.sim.setFault({
        kind: 'failTask',
        taskType: 'qmstart',
        vmid,
        message: 'start failed: injected',
        count: 1,
      });
      const err = (await client
        .waitForTask(await client.start('pve1', vmid))
        .catch((e: unknown) => e)) as TaskFailedError;
      expect(err).to.be.instanceOf(TaskFailedError);
      expect(err.exitStatus).to.contain('injected');
      expect(err.logTail.length).to.be.greaterThan(0);
      expect(err.logTail[err.logTail.length - 1]).to.match(/^TASK ERROR: /);
    });

    it('slow tasks: waiting gives up with WaitTimeoutError while the task runs on', async () => {
      running.sim.setFault({ kind: 'slowTask', taskType: 'qmstart', vmid, factor: 200, count: 1 });
      const task = await client.start('pve1', vmid);
      expect(await client.waitForTask(task, { timeoutMs: 30 }).catch((e: unknown) => e)).to.be.instanceOf(
        WaitTimeoutError,
      );
      expect((await client.taskStatus(task)).status).to.equal('running');
    });

    it('agent never up: agent calls fail with AgentUnavailableError', async () => {
      running.sim.setFault({ kind: 'agentNever', vmid });
      await running.sim.idle();
      if ((await client.status('pve1', vmid)).status !== 'running')
        await client.waitForTask(await client.start('pve1', vmid));
      const err = await client.agentPing('pve1', vmid).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(AgentUnavailableError);
      expect((err as AgentUnavailableError).reason).to.equal('not-running');
    });

    it('shutdown timeout without forceStop: the task fails and the VM keeps running', async () => {
      running.sim.setFault({ kind: 'shutdownTimeout', vmid });
      if ((await client.status('pve1', vmid)).status !== 'running')
        await client.waitForTask(await client.start('pve1', vmid));
      const err = await client
        .waitForTask(await client.shutdown('pve1', vmid, { timeout: 1 }))
        .catch((e: unknown) => e);
      expect(err).to.be.instanceOf(TaskFailedError);
      expect((err as TaskFailedError).exitStatus).to.match(/got timeout/);
      expect((await client.status('pve1', vmid)).status).to.equal('running');
    });

    it('auth: a wrong token is AuthError; ticket login with CSRF works', async () => {
      const bad = createProxmoxClient({
        url: running.url,
        auth: {
          kind: 'token',
          token: running.token.replace(/=.*$/, '=00000000-0000-0000-0000-000000000000'),
        },
        tls: running.fingerprint ? { fingerprint: running.fingerprint } : undefined,
      });
      const ticket = createProxmoxClient({
        url: running.url,
        auth: { kind: 'ticket', username: 'root@pam', password: running.password },
        tls: running.fingerprint ? { fingerprint: running.fingerprint } : undefined,
        ...FAST,
      });
      try {
        expect(await bad.version().catch((e: unknown) => e)).to.be.instanceOf(AuthError);
        expect((await ticket.version()).version).to.match(/^\d/);
        await ticket.updateConfig('pve1', vmid, { set: { description: 'via ticket' } });
        expect((await client.getConfig('pve1', vmid)).values.description).to.equal('via ticket');
      } finally {
        bad.close();
        ticket.close();
      }
    });

    it('unknown node and unknown VM are different errors', async () => {
      const unknownNode = await client.getConfig('nosuchnode', vmid).catch((e: unknown) => e);
      expect(unknownNode).to.be.instanceOf(UnknownNodeError);
      expect(unknownNode).to.not.be.instanceOf(NotFoundError);
      expect(await client.getConfig('pve1', 999_999_000).catch((e: unknown) => e)).to.be.instanceOf(
        NotFoundError,
      );
    });
  });

  // Registered last: mocha runs a suite's own it() blocks before its nested describes.
  describe('schema', () => {
    it('every request the client sent passed the real PVE schema', () => {
      const violations = running.sim.schemaViolations();
      expect(
        violations.map((v) => `${v.method} ${v.path}: ${JSON.stringify(v.schemaViolations)}`),
      ).to.deep.equal([]);
      expect(running.sim.callLog().length).to.be.greaterThan(50);
    });
  });
});

describe('contract: proxmox client against the simulator over TLS', function () {
  this.timeout(30_000);
  let running: RunningSimulator;
  before(async () => {
    running = await startSimulator({ tls: true, authFailureDelayMs: 0 });
  });
  after(async () => running?.close());

  async function versionWith(tls: { fingerprint?: string; ca?: string }) {
    const c = createProxmoxClient({
      url: running.url,
      auth: { kind: 'token', token: running.token },
      tls,
      retry: { getRetries: 0 },
    });
    try {
      return await c.version();
    } finally {
      c.close();
    }
  }

  it('trusts the certificate by the fingerprint GET /nodes reports, or by its CA', async () => {
    expect(running.fingerprint).to.match(/^([A-F0-9]{2}:){31}[A-F0-9]{2}$/);
    expect((await versionWith({ fingerprint: running.fingerprint!.toLowerCase() })).version).to.match(/^\d/);
    expect((await versionWith({ ca: running.caPem })).version).to.match(/^\d/);
    const c = createProxmoxClient({
      url: running.url,
      auth: { kind: 'token', token: running.token },
      tls: { ca: running.caPem },
    });
    try {
      const nodes = await c.nodes();
      expect(nodes.map((n) => n.sslFingerprint)).to.include(running.fingerprint);
    } finally {
      c.close();
    }
  });

  it('refuses another fingerprint and an unknown certificate with TlsError', async () => {
    const wrong = `00:${running.fingerprint!.slice(3)}`.replace(/^00:(.*)$/, (m, rest: string) =>
      running.fingerprint!.startsWith('00') ? `11:${rest}` : m,
    );
    expect(await versionWith({ fingerprint: wrong }).catch((e: unknown) => e)).to.be.instanceOf(TlsError);
    expect(await versionWith({}).catch((e: unknown) => e)).to.be.instanceOf(TlsError);
  });
});

const PVE_URL = process.env.PVE_URL;
const PVE_TOKEN = process.env.PVE_TOKEN;
const realPve = Boolean(PVE_URL && PVE_TOKEN);
// Without a real cluster the suite shows as pending, with what it needs, instead of vanishing.
(realPve ? describe : describe.skip)(
  realPve
    ? 'contract: proxmox client against a real Proxmox VE'
    : 'contract: proxmox client against a real Proxmox VE (pending: set PVE_URL and PVE_TOKEN, plus PVE_NODE, PVE_TEMPLATE_VMID, PVE_STORAGE; optional PVE_MOVE_STORAGE, PVE_MIGRATE_NODE)',
  function () {
    this.timeout(15 * 60_000);
    let client: HttpProxmoxClient;
    let target: Target;
    before(() => {
      client = createProxmoxClient({
        url: PVE_URL!,
        auth: { kind: 'token', token: PVE_TOKEN! },
        tls: {
          fingerprint: process.env.PVE_FINGERPRINT,
          caFile: process.env.PVE_CA_FILE,
          insecure: process.env.PVE_INSECURE === '1',
        },
      });
      target = {
        client,
        node: process.env.PVE_NODE ?? 'pve',
        templateVmid: Number(process.env.PVE_TEMPLATE_VMID ?? 9000),
        storage: process.env.PVE_STORAGE ?? 'local-lvm',
        taskTimeoutMs: 10 * 60_000,
        agentTimeoutMs: 5 * 60_000,
        ...(process.env.PVE_MOVE_STORAGE ? { moveStorage: process.env.PVE_MOVE_STORAGE } : {}),
        ...(process.env.PVE_MIGRATE_NODE ? { migrateNode: process.env.PVE_MIGRATE_NODE } : {}),
      };
    });
    after(() => client?.close());
    defineClientContract(() => target);
  },
);
