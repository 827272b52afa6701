import { expect } from 'chai';
import { ExponentialBackoff, jitter } from '../../controller/queue/rate-limiter.js';

describe('ExponentialBackoff', () => {
  it('doubles from 1 s per failure and caps at 5 minutes by default', () => {
    const b = new ExponentialBackoff<string>({ random: () => 0 });
    const delays = Array.from({ length: 12 }, () => b.when('a'));
    expect(delays).to.deep.equal([
      1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000, 300000, 300000, 300000,
    ]);
    expect(b.numRequeues('a')).to.equal(12);
  });

  it('keeps counts per key, and forget starts a key over', () => {
    const b = new ExponentialBackoff<string>({ random: () => 0 });
    b.when('a');
    b.when('a');
    expect(b.when('b')).to.equal(1000);
    expect(b.when('a')).to.equal(4000);
    b.forget('a');
    expect(b.numRequeues('a')).to.equal(0);
    expect(b.when('a')).to.equal(1000);
    expect(b.numRequeues('b')).to.equal(1);
  });

  it('jitter only shortens a delay, by at most its share, so the cap holds', () => {
    const high = new ExponentialBackoff<string>({ random: () => 0.999999, jitter: 0.1 });
    for (let i = 0; i < 15; i++) {
      const d = high.when('a');
      const nominal = Math.min(300000, 1000 * 2 ** i);
      expect(d)
        .to.be.at.most(nominal)
        .and.at.least(Math.floor(nominal * 0.9));
      expect(d).to.be.below(nominal);
    }
  });

  it('takes base, factor and cap from options, and rejects nonsense', () => {
    const b = new ExponentialBackoff<number>({ baseMs: 5, factor: 3, maxMs: 100, jitter: 0 });
    expect([1, 2, 3, 4, 5].map(() => b.when(7))).to.deep.equal([5, 15, 45, 100, 100]);
    expect(() => new ExponentialBackoff({ baseMs: 0 })).to.throw(RangeError);
    expect(() => new ExponentialBackoff({ baseMs: 10, maxMs: 5 })).to.throw(RangeError);
  });

  it('stays capped after very many failures', () => {
    const b = new ExponentialBackoff<string>({ jitter: 0 });
    let d = 0;
    for (let i = 0; i < 5000; i++) d = b.when('k');
    expect(d).to.equal(300000);
  });
});

describe('jitter', () => {
  it('spreads an interval by up to +/- the fraction', () => {
    expect(jitter(600_000, 0.1, () => 0)).to.equal(540_000);
    expect(jitter(600_000, 0.1, () => 0.5)).to.equal(600_000);
    expect(jitter(600_000, 0.1, () => 0.999999)).to.be.closeTo(660_000, 1);
    for (let i = 0; i < 200; i++) {
      const v = jitter(1000, 0.2);
      expect(v).to.be.within(800, 1200);
    }
  });

  it('clamps the fraction and never goes below zero', () => {
    expect(jitter(1000, 5, () => 0)).to.equal(0);
    expect(jitter(1000, -1, () => 0)).to.equal(1000);
  });
});
