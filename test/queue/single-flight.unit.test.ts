import { expect } from 'chai';
import { SingleFlight } from '../../controller/queue/single-flight.js';

describe('SingleFlight', () => {
  it('callers of a key while its run is in flight share it; a later caller runs again; keys are apart', async () => {
    const f = new SingleFlight<number>();
    let runs = 0;
    const work = () => new Promise<number>((r) => setImmediate(() => r(++runs)));
    const [a, b, c] = await Promise.all([f.run('x', work), f.run('x', work), f.run('y', work)]);
    expect([a, b]).to.deep.equal([1, 1]);
    expect(c).to.equal(2);
    expect(await f.run('x', work)).to.equal(3);
  });

  it('a failed run is shared by its callers and not kept', async () => {
    const f = new SingleFlight<number>();
    let fail = true;
    const work = async () => {
      if (fail) throw new Error('no');
      return 7;
    };
    const both = await Promise.allSettled([f.run('k', work), f.run('k', work)]);
    expect(both.map((r) => r.status)).to.deep.equal(['rejected', 'rejected']);
    fail = false;
    expect(await f.run('k', work)).to.equal(7);
  });
});
