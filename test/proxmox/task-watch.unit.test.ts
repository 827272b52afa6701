/** Wire-level: task waits per node (task-watch.ts): one active-task listing per node serves every wait. */
import { expect } from 'chai';
import { TaskFailedError, WaitTimeoutError } from '../../controller/errors.js';
import { createProxmoxClient, type HttpProxmoxClient } from '../../controller/proxmox/http-client.js';
import {
  MIN_LIST_INTERVAL_MS,
  LEARN_FROM,
  expectationOf,
  nextLookDelay,
  type Expectation,
} from '../../controller/proxmox/task-watch.js';
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
  /** Ended tasks the listing leaves out (a cut list). */
  let hiddenFromIndex: Set<string>;

  beforeEach(async () => {
    tasks = [];
    busyListings = 0;
    hiddenFromIndex = new Set();
    server = await startWireServer((req, res) => {
      const node = /^\/nodes\/([^/]+)\//.exec(req.path)?.[1];
      if (/^\/nodes\/[^/]+\/tasks$/.test(req.path)) {
        if (busyListings > 0) {
          busyListings--;
          return fail(res, 596, 'Connection timed out', '');
        }
        const now = performance.now();
        const q = new URLSearchParams(req.query);
        const entry = (t: FakeTask) => ({
          upid: t.upid,
          node: t.node,
          type: 'qmclone',
          id: '9000',
          user: 'u@pve',
          starttime: 1,
        });
        const mine = tasks.filter((t) => t.node === node);
        // Tasks.pm node_tasks: source active lists the running tasks of the node, status RUNNING;
        // source all adds the index (ended tasks with endtime and exit status) after them.
        const running = mine.filter((t) => t.endsAt > now).map((t) => ({ ...entry(t), status: 'RUNNING' }));
        const archived =
          q.get('source') === 'all'
            ? mine
                .filter((t) => t.endsAt <= now && !hiddenFromIndex.has(t.upid))
                .map((t) => ({ ...entry(t), endtime: 2, status: t.exit }))
            : [];
        return ok(res, [...running, ...archived]);
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
    // The listing showed every task ended with its exit status: no task's own status was read.
    expect(statusReads()).to.have.length(0);
    const q = new URLSearchParams(listings('pve1')[0]!.query);
    expect(q.get('source')).to.equal('all');
    // since: the oldest waited task's start (the UPID's hex start time).
    expect(q.get('since')).to.equal(String(0x679a423b));
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

  it("reads a task's own status only when the listing leaves it out", async () => {
    const t = start('pve1', 1, 25);
    hiddenFromIndex.add(t.upid);
    const other = start('pve1', 2, 25, 'clone failed: no space');
    expect((await client.waitForTask(t)).exitStatus).to.equal('OK');
    expect(await client.waitForTask(other).catch((e: unknown) => e)).to.be.instanceOf(TaskFailedError);
    expect(statusReads().map((r) => decodeURIComponent(r.path))).to.deep.equal([
      `/nodes/pve1/tasks/${t.upid}/status`,
    ]);
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
  const MAX = 30_000;
  const point = (ms: number): Expectation => ({ lo: ms, hi: ms, guess: true });
  /** The look times (server ms) at a task that ends at `actual`, and what it teaches. */
  function looks(expected: Expectation, actual: number): { at: number[]; seen: Expectation } {
    const at: number[] = [MIN];
    let running = 0;
    while (at.at(-1)! < actual) {
      running = at.at(-1)!;
      at.push(running + nextLookDelay(running, expected, MIN, MAX));
    }
    return { at, seen: { lo: running, hi: at.at(-1)! } };
  }
  /** Tasks of `actual` ms one after another from a typical expectation: the looks at each. */
  function series(typical: number, actual: number[]): number[][] {
    const seen: Expectation[] = [];
    return actual.map((a) => {
      const r = looks(expectationOf(seen) ?? point(typical), a);
      seen.unshift(r.seen);
      seen.splice(LEARN_FROM);
      return r.at;
    });
  }

  it('looks once soon, then at the expected end', () => {
    const learnt = (ms: number): Expectation => ({ lo: ms, hi: ms });
    expect(looks(learnt(25_000), 25_000).at).to.deep.equal([MIN, 25_000]);
    // never more than MAX apart
    expect(looks(learnt(37_000), 37_000).at).to.deep.equal([MIN, MIN + MAX, 37_000]);
  });

  it('under a typical figure (a guess), looks threefold apart in its first quarter, then at the figure', () => {
    expect(looks(point(25_000), 25_000).at).to.deep.equal([MIN, 3_000, 9_000, 25_000]);
    expect(looks(point(37_000), 37_000).at).to.deep.equal([MIN, 3_000, 9_000, 27_000, 37_000]);
    // A task far quicker than the figure (a linked clone of 2.5 s under 30 s) is seen within 3x its time.
    for (const actual of [1_500, 2_500, 5_000, 8_000]) {
      const seenAt = looks(point(30_000), actual).at.at(-1)!;
      expect(seenAt, `a ${actual} ms task`).to.be.at.most(3 * actual + MIN);
    }
  });

  it('a task that overruns its expectation is looked at less and less often, within bounds', () => {
    const l = looks(point(30_000), 300_000).at;
    expect(l.length).to.be.below(20);
    for (let i = 1; i < l.length; i++) {
      expect(l[i]! - l[i - 1]!).to.be.at.least(MIN);
      expect(l[i]! - l[i - 1]!).to.be.at.most(MAX);
      if (l[i - 1]! > 30_000) expect(l[i]! - l[i - 1]!).to.be.at.least(l[i - 1]! - l[i - 2]!);
    }
    // An overrun of o is seen within o (and within MAX).
    expect(l.at(-1)! - 300_000).to.be.at.most(MAX);
    // past a guess, a quarter of the task's time apart; past what tasks took, doubling from a second
    expect(looks(point(30_000), 40_000).at).to.deep.equal([MIN, 3_000, 9_000, 30_000, 37_500, 46_875]);
    expect(looks({ lo: 30_000, hi: 30_000 }, 40_000).at).to.deep.equal([
      MIN,
      30_000,
      31_000,
      32_000,
      34_000,
      38_000,
      46_000,
    ]);
  });

  it('learns what tasks take: a few tasks on, each is seen within 1 s of its end with a few looks', () => {
    // Longer than the typical figure, shorter, and longer than the longest interval.
    for (const actual of [41_000, 17_500, 5_000, 120_000]) {
      const all = series(30_000, Array<number>(8).fill(actual));
      for (const l of all.slice(5)) {
        // the first look, one per MAX, then a second early, the bracket's start and end
        expect(l.length, `looks ${l.join(',')}`).to.be.at.most(4 + Math.ceil(actual / MAX));
        expect(l.at(-1)! - actual, `looks ${l.join(',')}`).to.be.at.most(1000);
      }
    }
  });

  it('follows durations that vary from task to task: seen within a quarter of the bracket they span', () => {
    const actual = [36_000, 38_500, 35_100, 37_200, 36_600, 38_000, 35_500, 37_900, 36_100];
    const all = series(30_000, actual);
    all.slice(3).forEach((l, i) => {
      // they span 35.1-38.5 s: seen within a look or two of their end
      expect(l.at(-1)! - actual[i + 3]!, `looks ${l.join(',')}`).to.be.at.most(1500);
      expect(l.length, `looks ${l.join(',')}`).to.be.at.most(7);
    });
  });

  it('expects what the last tasks took: the bracket all of them ended in', () => {
    expect(expectationOf([])).to.equal(undefined);
    expect(
      expectationOf([
        { lo: 36_000, hi: 37_000 },
        { lo: 34_000, hi: 35_000 },
      ]),
    ).to.deep.equal({ lo: 33_000, hi: 37_000 });
    // a wide bracket (a poor guess) does not count once narrow ones are known
    expect(
      expectationOf([
        { lo: 36_000, hi: 37_000 },
        { lo: 1_000, hi: 30_000 },
      ]),
    ).to.deep.equal({ lo: 35_000, hi: 37_000 });
  });
});
