import { expect } from 'chai';
import { UsageError } from '../controller/errors.js';
import { formatDuration, parseDuration } from '../controller/duration.js';

describe('durations on the command line', () => {
  const good: [string, number][] = [
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1h30m', 5_400_000],
    ['250ms', 250],
    ['1.5s', 1500],
    ['2d', 172_800_000],
    ['0', 0],
    [' 10s ', 10_000],
  ];
  for (const [text, ms] of good) {
    it(`reads '${text}' as ${ms} ms`, () => expect(parseDuration(text)).to.equal(ms));
  }

  const bad = ['', '10', 'abc', '5 m', '-5s', '1h foo', '5M', 's'];
  for (const text of bad) {
    it(`rejects '${text}' with a usage error naming the flag`, () => {
      expect(() => parseDuration(text, '--timeout'))
        .to.throw(UsageError)
        .with.property('message')
        .that.matches(/^--timeout: /);
    });
  }

  it('says a unit is required for a bare number', () => {
    expect(() => parseDuration('10', '--resync')).to.throw(/a unit is required/);
  });

  it('formats durations for people', () => {
    expect(formatDuration(850)).to.equal('850ms');
    expect(formatDuration(12_340)).to.equal('12.3s');
    expect(formatDuration(245_000)).to.equal('4m05s');
    expect(formatDuration(7_800_000)).to.equal('2h10m');
  });
});
