/** Wire-level: task waits per node (task-watch.ts): one active-task listing per node serves every wait. */
import { expect } from 'chai';
import { TaskFailedError, WaitTimeoutError } from '../../controller/errors.js';
import { createProxmoxClient, type HttpProxmoxClient } from '../../controller/proxmox/http-client.js';
import { MIN_LIST_INTERVAL_MS, nextLookDelay } from '../../controller/proxmox/task-watch.js';
import { TEST_TOKEN, fail, ok, startWireServer, type WireServer } from '../helpers/wire-server.js';

/** Server ms per real ms in these tests: one listing interval of 1 server s is 10 real ms. */
const SCALE = 100;
const MIN_REAL = MIN_LIST_INTERVAL_MS / SCALE;

interface FakeTask {
  upid: string;
  node: string;
  /** Real ms (performance.now) when it ends. */
  endsAt: number;
  exit: string;
}

function upid(node: string, n: number, type = 'qmclone'): string {
  return `UPID:${node}:0000${String(1000 + n)}:00006AE8:679A423B:${type}:${9000 + n}:workerctl@pve!ci:`;
}

describe('proxmox client: task waits per node', () => {
  let server: WireServer;
  let client: HttpProxmoxClient;
  let tasks: FakeTask[];
  /** Listings answered 596 before the next real one. */
  let busyListings: number;

  beforeEach(async () => {
    tasks = [];
    busyListings = 0;
    server = await startWireServer((req, res) => {
      const node = /^\/nodes\/([^/]+)\//.exec(req.path)?.[1];
      if (/^\/nodes\/[^/]+\/tasks$/.test(req.path)) {
        if (busyListings > 0) {
          busyListings--;
          return fail(res, 596, 'Connection timed out', '');
        }
        const now = performance.now();
        // Tasks.pm node_tasks, source active: the running tasks of the node, status RUNNING.
        return ok(
          res,
          tasks
            .filter((t) => t.node === node && t.endsAt > now)
            .map((t) => ({
              upid: t.upid,
              node: t.node,
              type: 'qmclone',
              id: '9000',
              user: 'u@pve',
              starttime: 1,
              status: 'RUNNING',
            })),
        );
      }
      const t = tasks.find((x) => req.path.includes(encodeURIComponent(x.upid)));
      if (!t)
        return fail(res, 400, 'Parameter verification failed.', {
          data: null,
          errors: { upid: 'no such task' },
        });
      if (req.path.endsWith('/log')) return ok(res, [{ n: 1, t: `TASK ERROR: ${t.exit}` }], { total: 1 });
      const done = performance.now() >= t.endsAt;
      return ok(res, {
        upid: t.upid,
        node: t.node,
        type: 'qmclone',
        id: '9000',
        user: 'u@pve',
        pid: 1,
        pstart: 1,
        starttime: 1,
        status: done ? 'stopped' : 'running',
        ...(done ? { exitstatus: t.exit } : {}),
      });
    });
    client = createProxmoxClient({
      url: server.url,
      auth: { kind: 'token', token: TEST_TOKEN },
      retry: { baseDelayMs: 1, maxDelayMs: 5, jitter: 0, getRetries: 0 },
      timeScale: SCALE,
    });
  });
  afterEach(async () => {
    client.close();
    await server.close();
  });

  function start(node: string, n: number, runsMs: number, exit = 'OK'): { upid: string; node: string } {
    const t = { upid: upid(node, n), node, endsAt: performance.now() + runsMs, exit };
    tasks.push(t);
    return { upid: t.upid, node };
  }

  const listings = (node: string) => server.requests.filter((r) => r.path === `/nodes/${node}/tasks`);
  const statusReads = () => server.requests.filter((r) => r.path.endsWith('/status'));

  it('one listing per node and interval serves every task on it; each status is read once, after it ended', async () => {
    const waits = [
      client.waitForTask(start('pve1', 1, 30)),
      client.waitForTask(start('pve1', 2, 60)),
      client.waitForTask(start('pve1', 3, 45, 'clone failed: no space')).catch((e: unknown) => e),
      client.waitForTask(start('pve2', 4, 20)),
    ];
    const results = await Promise.all(waits);
    expect((results[0] as { exitStatus: string }).exitStatus).to.equal('OK');
    expect((results[1] as { exitStatus: string }).exitStatus).to.equal('OK');
    expect(results[2]).to.be.instanceOf(TaskFailedError);
    expect((results[2] as TaskFailedError).logTail).to.deep.equal(['TASK ERROR: clone failed: no space']);
    // Every status read found its task stopped: none was asked for while the list showed it.
    expect(statusReads()).to.have.length(4);
    const q = new URLSearchParams(listings('pve1')[0]!.query);
    expect(q.get('source')).to.equal('active');
    // Far fewer listings than per-task polls: at most one per minimum interval while tasks run.
    expect(listings('pve2').length).to.be.at.least(1);
    expect(listings('pve1').length).to.be.at.most(Math.ceil(60 / MIN_REAL) + 1);
  });

  it('never lists a node more often than once per minimum interval', async () => {
    const seen: number[] = [];
    const inner = server.handler;
    server.handler = (req, res, raw) => {
      if (req.path === '/nodes/pve1/tasks') seen.push(performance.now());
      return inner(req, res, raw);
    };
    // Tasks starting one after another keep asking for a first look soon after they begin.
    const waits: Promise<unknown>[] = [];
    for (let i = 0; i < 8; i++) {
      waits.push(client.waitForTask(start('pve1', i, 15 + i * 3)));
      await new Promise((r) => setTimeout(r, 3));
    }
    await Promise.all(waits);
    // (less transit jitter on a loaded machine: a few ms)
    for (let i = 1; i < seen.length; i++) expect(seen[i]! - seen[i - 1]!).to.be.at.least(MIN_REAL * 0.6);
  });

  it('rides out 596 answers of the listing (a busy node)', async () => {
    busyListings = 2;
    const status = await client.waitForTask(start('pve1', 1, 20));
    expect(status.exitStatus).to.equal('OK');
    expect(listings('pve1').length).to.be.at.least(3);
  });

  it('gives up at the deadline with WaitTimeoutError while the task runs on', async () => {
    const err = await client
      .waitForTask(start('pve1', 1, 10_000), { timeoutMs: 40 })
      .catch((e: unknown) => e);
    expect(err).to.be.instanceOf(WaitTimeoutError);
    expect(statusReads()).to.have.length(0);
  });

  it('an aborted wait stops at once', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('shutting down')), 15);
    const err = await client
      .waitForTask(start('pve1', 1, 10_000), { signal: ac.signal })
      .catch((e: unknown) => e);
    expect((err as Error).message).to.equal('shutting down');
  });

  it('looks at a task again when its status still says running (a listing that missed it)', async () => {
    const t = start('pve1', 1, 25);
    // The listing leaves this task out (a cut list) while it runs: the status read catches that.
    const inner = server.handler;
    server.handler = (req, res, raw) => {
      if (req.path === '/nodes/pve1/tasks') return ok(res, []);
      return inner(req, res, raw);
    };
    expect((await client.waitForTask(t)).exitStatus).to.equal('OK');
    expect(statusReads().length).to.be.at.least(2);
  });
});

describe('task waits: the schedule', () => {
  const MIN = 1000;
  const MAX = 10_000;
  /** The look times (server ms) of a task expected to end at `expected` that ends at `actual`. */
  function looks(expected: number, actual: number): number[] {
    const out: number[] = [MIN];
    while (out.at(-1)! < actual) out.push(out.at(-1)! + nextLookDelay(out.at(-1)!, expected, MIN, MAX));
    return out;
  }

  it('looks soon, backs off, and closes in on the expected end', () => {
    const l = looks(37_000, 37_000);
    expect(l[0]).to.equal(MIN);
    // Seen within 2 s of its end, with a handful of looks.
    expect(l.at(-1)! - 37_000).to.be.at.most(2000);
    expect(l.length).to.be.at.most(9);
    // versus one poll a second: 37
  });

  it('a task that overruns its expectation is looked at less and less often, within bounds', () => {
    const l = looks(30_000, 300_000);
    expect(l.length).to.be.below(40);
    for (let i = 1; i < l.length; i++) {
      expect(l[i]! - l[i - 1]!).to.be.at.least(MIN);
      expect(l[i]! - l[i - 1]!).to.be.at.most(MAX);
      if (l[i - 1]! > 30_000) expect(l[i]! - l[i - 1]!).to.be.at.least(l[i - 1]! - l[i - 2]!);
    }
  });

  it('the number of looks grows far slower than the duration', () => {
    expect(looks(10_000, 10_000).length).to.be.at.most(8);
    expect(looks(120_000, 120_000).length).to.be.at.most(20);
  });
});
