import { expect } from 'chai';
import { UsageError } from '../controller/errors.js';
import { matchesSelector, parseSelector } from '../controller/selector.js';

describe('label selectors (-l)', () => {
  const labels = { site: 'dc1', rack: 'r3', 'app.example.com/tier': 'backup' };
  const matches = (...texts: string[]) => matchesSelector(parseSelector(texts), labels);

  it('key=value, key==value, key!=value, key and !key; commas and repeated -l all must hold', () => {
    expect(matches('site=dc1')).to.equal(true);
    expect(matches('site==dc1')).to.equal(true);
    expect(matches('site=dc2')).to.equal(false);
    expect(matches('site!=dc2')).to.equal(true);
    expect(matches('owner!=x'), 'an absent label is not equal to anything').to.equal(true);
    expect(matches('rack')).to.equal(true);
    expect(matches('!rack')).to.equal(false);
    expect(matches('!spare')).to.equal(true);
    expect(matches('app.example.com/tier=backup')).to.equal(true);
    expect(matches('site=dc1,rack=r3')).to.equal(true);
    expect(matches('site=dc1,rack=r4')).to.equal(false);
    expect(matches('site=dc1', 'rack=r4')).to.equal(false);
    expect(matches('site = dc1')).to.equal(true);
    expect(matchesSelector(undefined, {}), 'no selector selects everything').to.equal(true);
    expect(parseSelector([])).to.equal(undefined);
    expect(parseSelector(['site=dc1', '!spare'])!.text).to.equal('site=dc1,!spare');
  });

  it('a malformed selector is a usage error naming -l and the requirement', () => {
    for (const bad of ['site=dc1,', '=dc1', '-site=dc1', 'site=a=b', 'si te=dc1', '!', 'a!b']) {
      expect(() => parseSelector([bad]), bad).to.throw(UsageError, /^-l: /);
    }
    expect(() => parseSelector(['site=dc1,=x'])).to.throw(/'=x' in 'site=dc1,=x'/);
  });
});
