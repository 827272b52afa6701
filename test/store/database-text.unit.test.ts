import { expect } from 'chai';
import { DatabaseText } from '../../controller/store/database-text.js';
import { splitRecord } from '../../controller/store/sections.js';
import type { StoreData } from '../../controller/store/store.js';
import { makeHistory, makeRecord, makeSession } from '../helpers/builders.js';

const whole = (data: unknown) => JSON.stringify(data, null, 2) + '\n';

function data(names: string[]): StoreData {
  return {
    schemaVersion: 2,
    workers: Object.fromEntries(names.map((n) => [n, splitRecord(makeRecord(n))])),
    sessions: { s1: makeSession('s1') },
    meta: { massDeleteBlocked: { wouldDelete: 3, of: 4, threshold: 'x' }, empty: {} },
  };
}

describe('DatabaseText: the whole file, each worker serialised again only after it changed', () => {
  it('equals JSON.stringify(data, null, 2) byte for byte, also for awkward names and text', () => {
    const d = data(['w-b', 'w-a', '10', '2', 'quote"name']);
    d.workers['w-a']!.status.lastError = 'line one\nline "two"\t\u2028 é';
    d.workers['w-a']!.history = makeHistory(3);
    expect(new DatabaseText().of(d).toString()).to.equal(whole(d));
    const empty: StoreData = { schemaVersion: 2, workers: {}, sessions: {}, meta: {} };
    expect(new DatabaseText().of(empty).toString()).to.equal(whole(empty));
  });

  it('serialises a changed worker again and reuses the others; a forgotten change shows', () => {
    const d = data(['w1', 'w2', 'w3']);
    const text = new DatabaseText();
    text.of(d);
    d.workers.w1!.status.observedGeneration = 7;
    d.workers.w2!.status.observedGeneration = 8;
    text.changed(['w1']);
    const out = text.of(d).toString();
    // w1 told, so it is new; w2 not told, so its old part is reused (the store must tell every change).
    expect(JSON.parse(out).workers.w1.status.observedGeneration).to.equal(7);
    expect(JSON.parse(out).workers.w2.status.observedGeneration).to.equal(0);
    text.changed(['w2']);
    expect(text.of(d).toString()).to.equal(whole(d));
  });

  it('drops deleted workers, adds new ones, and starts over for a new data object', () => {
    const d = data(['w1', 'w2']);
    const text = new DatabaseText();
    text.of(d);
    delete d.workers.w1;
    d.workers.w9 = splitRecord(makeRecord('w9'));
    d.sessions = {};
    expect(text.of(d).toString()).to.equal(whole(d));
    const other = data(['w1', 'w2']);
    other.workers.w2!.status.observedGeneration = 3;
    expect(text.of(other).toString()).to.equal(whole(other));
  });
});
