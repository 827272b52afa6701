import { expect } from 'chai';
import { RequeueAfterError, TerminalError } from '../../controller/errors.js';
import { ExponentialBackoff } from '../../controller/queue/rate-limiter.js';
import { ItemTimeoutError, runWorkers, WorkQueue } from '../../controller/queue/work-queue.js';
import type { ItemOutcome, RunWorkersOptions } from '../../controller/queue/work-queue.js';
import type { ItemResult } from '../../controller/queue/work-queue.js';
import { FakeClock, flushMicrotasks } from '../helpers/clock.js';

interface Gate {
  promise: Promise<void>;
  open: () => void;
}
function gate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

function setup(
  handler: (key: string, signal: AbortSignal) => Promise<ItemResult | void>,
  options: RunWorkersOptions<string> = {},
) {
  const clock = new FakeClock();
  const queue = new WorkQueue<string>({ clock, rateLimiter: new ExponentialBackoff({ random: () => 0 }) });
  const outcomes: ItemOutcome<string>[] = [];
  const calls: string[] = [];
  const running = runWorkers(
    queue,
    async (key, signal) => {
      calls.push(key);
      return handler(key, signal);
    },
    { clock, onOutcome: (o) => outcomes.push(o), ...options },
  );
  return { clock, queue, outcomes, calls, running };
}

describe('runWorkers', () => {
  it('never runs more than `concurrency` items at once, nor two on one key', async () => {
    const gates = new Map<string, Gate>();
    let active = 0;
    let peak = 0;
    const activeKeys = new Set<string>();
    const { queue, calls, running } = setup(
      async (key) => {
        expect(activeKeys.has(key), `two workers on ${key}`).to.equal(false);
        activeKeys.add(key);
        active++;
        peak = Math.max(peak, active);
        const g = gate();
        gates.set(key, g);
        await g.promise;
        active--;
        activeKeys.delete(key);
      },
      { concurrency: 3 },
    );
    for (let i = 0; i < 10; i++) queue.add(`k${i}`);
    await flushMicrotasks();
    expect(active).to.equal(3);
    queue.add('k0'); // in flight: must wait for its first run to finish
    while (calls.length < 11 || active > 0) {
      for (const [key, g] of gates) {
        gates.delete(key);
        g.open();
      }
      await flushMicrotasks();
    }
    expect(peak).to.equal(3);
    expect(calls.filter((k) => k === 'k0')).to.have.length(2);
    expect(new Set(calls).size).to.equal(10);
    queue.shutDown();
    await running;
  });

  it('forgets a key after success, so its next failure starts the backoff over', async () => {
    let fail = true;
    const { queue, clock, outcomes, running } = setup(async () => {
      if (fail) throw new Error('boom');
    });
    queue.add('a');
    await flushMicrotasks();
    expect(queue.numRequeues('a')).to.equal(1);
    await clock.advance(1000);
    expect(queue.numRequeues('a')).to.equal(2);
    fail = false;
    await clock.advance(2000);
    expect(queue.numRequeues('a')).to.equal(0);
    expect(outcomes.map((o) => o.result)).to.deep.equal(['error', 'error', 'success']);
    expect(outcomes.map((o) => o.retryInMs)).to.deep.equal([1000, 2000, undefined]);
    queue.shutDown();
    await running;
  });

  it('retries a failing key with growing delays, never before they pass', async () => {
    const { queue, clock, calls, running } = setup(async () => {
      throw new Error('proxmox down');
    });
    queue.add('a');
    await flushMicrotasks();
    const at: number[] = [];
    const start = clock.now();
    for (let i = 0; i < 4; i++) {
      const before = calls.length;
      while (calls.length === before) await clock.advance(100);
      at.push(clock.now() - start);
    }
    expect(at).to.deep.equal([1000, 3000, 7000, 15000]);
    queue.shutDown();
    await running;
  });

  it('does not retry a TerminalError', async () => {
    const { queue, clock, calls, outcomes, running } = setup(async () => {
      throw new TerminalError('template missing');
    });
    queue.add('a');
    await flushMicrotasks();
    await clock.advance(3_600_000);
    expect(calls).to.deep.equal(['a']);
    expect(outcomes[0]!.result).to.equal('terminal');
    expect(queue.numRequeues('a')).to.equal(0);
    expect(queue.delayed()).to.equal(0);
    queue.shutDown();
    await running;
  });

  it('comes back after RequeueAfterError or result.requeueAfterMs, and not before', async () => {
    let n = 0;
    const { queue, clock, calls, outcomes, running } = setup(async () => {
      n++;
      if (n === 1) throw new RequeueAfterError('task running', 5000);
      if (n === 2) return { requeueAfterMs: 30_000 };
      return {};
    });
    queue.add('a');
    await flushMicrotasks();
    await clock.advance(4999);
    expect(calls).to.have.length(1);
    await clock.advance(1);
    expect(calls).to.have.length(2);
    await clock.advance(29_999);
    expect(calls).to.have.length(2);
    await clock.advance(1);
    expect(calls).to.have.length(3);
    expect(outcomes.map((o) => [o.result, o.retryInMs])).to.deep.equal([
      ['requeue', 5000],
      ['requeue', 30000],
      ['success', undefined],
    ]);
    expect(queue.numRequeues('a')).to.equal(0);
    queue.shutDown();
    await running;
  });

  it('aborts the handler signal after timeoutMs', async () => {
    let reason: unknown;
    const { queue, clock, outcomes, running } = setup(
      (_key, signal) =>
        new Promise((_resolve, reject) => {
          signal.addEventListener('abort', () => {
            reason = signal.reason;
            reject(signal.reason);
          });
        }),
      { timeoutMs: 60_000 },
    );
    queue.add('a');
    await flushMicrotasks();
    await clock.advance(59_999);
    expect(reason).to.equal(undefined);
    await clock.advance(1);
    expect(reason).to.be.instanceOf(ItemTimeoutError);
    expect(outcomes[0]!.result).to.equal('error');
    expect(outcomes[0]!.durationMs).to.equal(60_000);
    queue.shutDown();
    await running;
  });

  it('on shutdown lets items in flight finish, starts no new ones, and resolves', async () => {
    const g = gate();
    let finished = false;
    const { queue, calls, running } = setup(async (key) => {
      if (key === 'slow') {
        await g.promise;
        finished = true;
      }
    });
    queue.add('slow');
    await flushMicrotasks();
    queue.add('next');
    let stopped = false;
    void running.then(() => (stopped = true));
    const drained = queue.shutDownWithDrain();
    await flushMicrotasks();
    expect(stopped).to.equal(false);
    g.open();
    await drained;
    await running;
    expect(finished).to.equal(true);
    expect(calls).to.deep.equal(['slow']);
  });

  it('a hard stop signal aborts handlers in flight', async () => {
    const stop = new AbortController();
    const { queue, running } = setup(
      (_key, signal) =>
        new Promise((_r, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
      { signal: stop.signal },
    );
    queue.add('a');
    await flushMicrotasks();
    queue.shutDown();
    stop.abort(new Error('stopping'));
    await running;
    expect(queue.processing()).to.equal(0);
  });
});
