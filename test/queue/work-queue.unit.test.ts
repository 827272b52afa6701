import { expect } from 'chai';
import { ExponentialBackoff } from '../../controller/queue/rate-limiter.js';
import { WorkQueue } from '../../controller/queue/work-queue.js';
import { FakeClock, flushMicrotasks } from '../helpers/clock.js';

function makeQueue(clock = new FakeClock()): { q: WorkQueue<string>; clock: FakeClock } {
  const q = new WorkQueue<string>({ clock, rateLimiter: new ExponentialBackoff({ random: () => 0 }) });
  return { q, clock };
}

/** Takes every key that is ready now, without waiting. */
async function takeReady(q: WorkQueue<string>): Promise<string[]> {
  const out: string[] = [];
  while (q.len() > 0) out.push((await q.get())!);
  return out;
}

describe('WorkQueue', () => {
  it('hands keys out in the order they were added', async () => {
    const { q } = makeQueue();
    for (const k of ['a', 'b', 'c']) q.add(k);
    expect(await takeReady(q)).to.deep.equal(['a', 'b', 'c']);
  });

  it('merges a key added while already queued', async () => {
    const { q } = makeQueue();
    q.add('a');
    q.add('b');
    q.add('a');
    q.add('a');
    expect(q.len()).to.equal(2);
    expect(await takeReady(q)).to.deep.equal(['a', 'b']);
  });

  it('never hands out a key that is being processed (single flight)', async () => {
    const { q } = makeQueue();
    q.add('a');
    expect(await q.get()).to.equal('a');
    q.add('a');
    expect(q.len()).to.equal(0);
    let second: string | undefined;
    void q.get().then((k) => (second = k));
    await flushMicrotasks();
    expect(second).to.equal(undefined);
    expect(q.processing()).to.equal(1);
    q.done('a');
    await flushMicrotasks();
    expect(second).to.equal('a');
  });

  it('take holds a key against the workers: waits for its processing, keeps a queued copy for after done', async () => {
    const { q } = makeQueue();
    q.add('a');
    expect(await q.get()).to.equal('a');
    let taken = false;
    const holding = q.take('a').then(() => (taken = true));
    await flushMicrotasks();
    expect(taken).to.equal(false);
    q.add('a');
    q.done('a');
    await holding;
    expect(taken).to.equal(true);
    // The copy added meanwhile waits for the holder.
    expect(q.len()).to.equal(0);
    q.add('b');
    expect(await q.get()).to.equal('b');
    q.done('b');
    q.done('a');
    expect(q.len()).to.equal(1);
    expect(await q.get()).to.equal('a');
  });

  it('processes a key re-added many times during processing exactly once more', async () => {
    const { q } = makeQueue();
    q.add('a');
    await q.get();
    for (let i = 0; i < 5; i++) q.add('a');
    q.done('a');
    expect(q.len()).to.equal(1);
    expect(await q.get()).to.equal('a');
    q.done('a');
    expect(q.len()).to.equal(0);
  });

  it('a key done without being re-added is gone', async () => {
    const { q } = makeQueue();
    q.add('a');
    await q.get();
    q.done('a');
    expect(q.len()).to.equal(0);
    expect(q.processing()).to.equal(0);
  });

  it('wakes waiting getters one key each', async () => {
    const { q } = makeQueue();
    const got: (string | undefined)[] = [];
    for (let i = 0; i < 3; i++) void q.get().then((k) => got.push(k));
    await flushMicrotasks();
    expect(got).to.deep.equal([]);
    q.add('x');
    q.add('y');
    await flushMicrotasks();
    expect(got).to.deep.equal(['x', 'y']);
    expect(q.processing()).to.equal(2);
  });

  it('addAfter queues a key only once its delay has passed on the clock', async () => {
    const { q, clock } = makeQueue();
    q.addAfter('a', 1000);
    expect(q.len()).to.equal(0);
    expect(q.delayed()).to.equal(1);
    await clock.advance(999);
    expect(q.len()).to.equal(0);
    await clock.advance(1);
    expect(q.len()).to.equal(1);
    expect(q.delayed()).to.equal(0);
  });

  it('addAfter releases keys in deadline order, whatever the order of the calls', async () => {
    const { q, clock } = makeQueue();
    q.addAfter('late', 300);
    q.addAfter('early', 100);
    q.addAfter('middle', 200);
    q.addAfter('now', 0);
    expect(await takeReady(q)).to.deep.equal(['now']);
    await clock.advance(300);
    expect(await takeReady(q)).to.deep.equal(['early', 'middle', 'late']);
  });

  it('addAfter keeps only the earliest deadline per key', async () => {
    const { q, clock } = makeQueue();
    q.addAfter('a', 500);
    q.addAfter('a', 100); // earlier: replaces
    q.addAfter('a', 900); // later: ignored
    expect(q.delayed()).to.equal(1);
    await clock.advance(100);
    expect(await takeReady(q)).to.deep.equal(['a']);
    q.done('a');
    await clock.advance(1000);
    expect(q.len()).to.equal(0);
    expect(clock.waiting).to.equal(0);
  });

  it('addRateLimited backs off per key, doubling up to the cap; forget starts over', async () => {
    const { q, clock } = makeQueue();
    const delays: number[] = [];
    for (let i = 0; i < 3; i++) {
      delays.push(q.addRateLimited('a'));
      await clock.advance(delays[i]! - 1);
      expect(q.len()).to.equal(0);
      await clock.advance(1);
      expect(await takeReady(q)).to.deep.equal(['a']);
      q.done('a');
    }
    expect(delays).to.deep.equal([1000, 2000, 4000]);
    expect(q.numRequeues('a')).to.equal(3);
    for (let i = 0; i < 20; i++) q.addRateLimited('b');
    expect(q.addRateLimited('b')).to.equal(300_000);
    q.forget('a');
    expect(q.numRequeues('a')).to.equal(0);
    expect(q.addRateLimited('a')).to.equal(1000);
  });

  it('shutDown resolves waiting getters with undefined, drops queued and delayed keys, ignores adds', async () => {
    const { q, clock } = makeQueue();
    const waiting = q.get();
    await flushMicrotasks();
    q.shutDown();
    expect(await waiting).to.equal(undefined);
    const { q: q2, clock: c2 } = makeQueue(clock);
    q2.add('a');
    q2.addAfter('b', 100);
    expect(c2.waiting).to.equal(1);
    q2.shutDown();
    expect(c2.waiting).to.equal(0);
    expect(q2.len()).to.equal(0);
    expect(await q2.get()).to.equal(undefined);
    q2.add('c');
    q2.addAfter('d', 10);
    expect(q2.len()).to.equal(0);
    expect(q2.delayed()).to.equal(0);
  });

  it('drain waits for keys in process to be done; a key re-added meanwhile is not queued again', async () => {
    const { q } = makeQueue();
    q.add('a');
    q.add('b');
    await q.get();
    await q.get();
    q.add('a');
    let drained = false;
    const draining = q.shutDownWithDrain().then(() => (drained = true));
    await flushMicrotasks();
    expect(drained).to.equal(false);
    q.done('a');
    await flushMicrotasks();
    expect(drained).to.equal(false);
    expect(q.len()).to.equal(0);
    q.done('b');
    await draining;
    expect(drained).to.equal(true);
    expect(q.len()).to.equal(0);
    await q.drain();
  });

  it('len counts queued keys only (the queue-depth metric)', async () => {
    const { q } = makeQueue();
    q.add('a');
    q.add('b');
    q.addAfter('c', 100);
    expect(q.len()).to.equal(2);
    await q.get();
    expect(q.len()).to.equal(1);
  });
});
