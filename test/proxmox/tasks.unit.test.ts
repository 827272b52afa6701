/** Wire-level: waiting for tasks (OK, WARNINGS, failure with log tail, timeout, abort). */
import { expect } from 'chai';
import { TaskFailedError, WaitTimeoutError } from '../../controller/errors.js';
import { createProxmoxClient, type HttpProxmoxClient } from '../../controller/proxmox/http-client.js';
import { parseUpid } from '../../controller/proxmox/upid.js';
import {
  FAST,
  TEST_TOKEN,
  UPID_CLONE,
  ok,
  startWireServer,
  type WireServer,
} from '../helpers/wire-server.js';

const task = { upid: UPID_CLONE, node: 'pve1' };

function statusBody(status: 'running' | 'stopped', exitstatus?: string) {
  return {
    upid: UPID_CLONE,
    node: 'pve1',
    pid: 2765,
    pstart: 27368,
    starttime: 1738162747,
    type: 'qmclone',
    id: '9000',
    user: 'workerctl@pve',
    tokenid: 'ci',
    status,
    ...(exitstatus ? { exitstatus } : {}),
  };
}

describe('proxmox client: tasks', () => {
  let server: WireServer;
  let client: HttpProxmoxClient;
  let polls: number;

  /** The task runs for `runningPolls` polls, then stops with `exit`; its log has `lines` lines. */
  function serveTask(runningPolls: number, exit: string, lines = 3): void {
    polls = 0;
    server.handler = (req, res) => {
      if (req.path.endsWith('/status')) {
        polls++;
        return ok(res, polls <= runningPolls ? statusBody('running') : statusBody('stopped', exit));
      }
      const q = new URLSearchParams(req.query);
      const start = Number(q.get('start') ?? 0);
      const limit = Number(q.get('limit') ?? 50);
      const all = Array.from({ length: lines }, (_, i) => ({
        n: i + 1,
        t: i === lines - 1 ? `TASK ERROR: ${exit}` : `line ${i + 1}`,
      }));
      ok(res, all.slice(start, start + limit), { total: lines });
    };
  }

  beforeEach(async () => {
    server = await startWireServer((_req, res) => ok(res, null));
    client = createProxmoxClient({ url: server.url, auth: { kind: 'token', token: TEST_TOKEN }, ...FAST });
  });
  afterEach(async () => {
    client.close();
    await server.close();
  });

  it('parses UPIDs, including token users', () => {
    expect(parseUpid(UPID_CLONE)).to.deep.equal({
      node: 'pve1',
      pid: 0xacd,
      pstart: 0x6ae8,
      startTime: 0x679a423b,
      type: 'qmclone',
      id: '9000',
      user: 'workerctl@pve!ci',
    });
    expect(parseUpid('UPID:pve1:nope')).to.equal(undefined);
  });

  it('polls until the task stops with OK', async () => {
    serveTask(3, 'OK');
    const st = await client.waitForTask(task);
    expect(st).to.include({
      status: 'stopped',
      exitStatus: 'OK',
      succeeded: true,
      warnings: 0,
      type: 'qmclone',
      id: '9000',
    });
    expect(polls).to.equal(4);
  });

  it('treats WARNINGS: 2 as success with warnings', async () => {
    serveTask(1, 'WARNINGS: 2');
    const st = await client.waitForTask(task);
    expect(st).to.include({ succeeded: true, warnings: 2, exitStatus: 'WARNINGS: 2' });
  });

  it('fails with TaskFailedError carrying the exit status and the last log lines', async () => {
    serveTask(
      0,
      "clone failed: can't lock file '/var/lock/pve-manager/pve-storage-local-lvm' - got timeout",
      25,
    );
    const err = (await client.waitForTask(task).catch((e: unknown) => e)) as TaskFailedError;
    expect(err).to.be.instanceOf(TaskFailedError);
    expect(err.upid).to.equal(UPID_CLONE);
    expect(err.exitStatus).to.match(/^clone failed: can't lock file/);
    expect(err.message).to.match(/^proxmox task qmclone 9000 failed: clone failed/);
    expect(err.logTail).to.have.length(10);
    expect(err.logTail[0]).to.equal('line 16');
    expect(err.logTail[9]).to.match(/^TASK ERROR: clone failed/);
  });

  it("rides out 596 answers (a busy node's pvedaemon) until the task ends", async () => {
    // pve-http-server PVE/APIServer/AnyEvent.pm proxy_request: 596 when pvedaemon does not answer in 30 s.
    let busy = 0;
    polls = 0;
    server.handler = (req, res) => {
      if (busy < 20) {
        busy++;
        res.writeHead(596, 'Connection timed out');
        res.end();
        return;
      }
      polls++;
      return ok(res, polls < 2 ? statusBody('running') : statusBody('stopped', 'OK'));
    };
    const st = await client.waitForTask(task, { timeoutMs: 10_000 });
    expect(st.succeeded).to.equal(true);
    expect(busy).to.equal(20);
  });

  it('gives up with WaitTimeoutError while the task keeps running', async () => {
    serveTask(1_000_000, 'OK');
    const err = await client.waitForTask(task, { timeoutMs: 30 }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(WaitTimeoutError);
    expect((err as Error).message).to.match(/keeps running/);
    expect(polls).to.be.greaterThan(1);
  });

  it('stops waiting when the signal aborts', async () => {
    serveTask(1_000_000, 'OK');
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('reconcile cancelled')), 20);
    const err = await client.waitForTask(task, { signal: ac.signal }).catch((e: unknown) => e);
    expect((err as Error).message).to.equal('reconcile cancelled');
  });

  it('aborts a status poll that is in flight, without retrying it', async () => {
    server.handler = () => undefined; // the status call hangs
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('shutting down')), 20);
    const err = await client.waitForTask(task, { signal: ac.signal }).catch((e: unknown) => e);
    expect((err as Error).message).to.equal('shutting down');
    expect(server.requests).to.have.length(1);
  });

  it('backs off between polls (doubling to the cap)', async () => {
    const slowPoll = createProxmoxClient({
      url: server.url,
      auth: { kind: 'token', token: TEST_TOKEN },
      taskPoll: { mode: 'task', initialMs: 5, maxMs: 20, factor: 2 },
    });
    serveTask(4, 'OK');
    const t0 = performance.now();
    try {
      await slowPoll.waitForTask(task);
    } finally {
      slowPoll.close();
    }
    // 5 + 10 + 20 + 20 ms of sleeps at least
    expect(performance.now() - t0).to.be.at.least(50);
  });

  it('reads the task log with total', async () => {
    serveTask(0, 'OK', 3);
    const log = await client.taskLog(task);
    expect(log).to.deep.equal({ lines: ['line 1', 'line 2', 'TASK ERROR: OK'], total: 3 });
  });
});
