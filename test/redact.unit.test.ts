import { expect } from 'chai';
import { Writable } from 'node:stream';
import { createLogger } from '../controller/log.js';
import { MASK, redact, redactText } from '../controller/redact.js';

const TOKEN = 'PVEAPIToken=root@pam!ci=0b1c2d3e-1111-2222-3333-444455556666';

describe('redaction (safety invariant 5: secrets never appear in logs)', () => {
  it('masks a PVE API token inside text and keeps the token id', () => {
    const out = redactText(`header ${TOKEN} sent`);
    expect(out).to.contain('PVEAPIToken=root@pam!ci=' + MASK);
    expect(out).not.to.contain('0b1c2d3e');
  });

  it('masks tickets, bearer tokens, password assignments and URL credentials', () => {
    const text =
      'PVEAuthCookie=PVE:root@pam:679A423B::abcDEF+/== Bearer s3cr3t password=hunter2 http://u:pw@proxy.lan:3128';
    const out = redactText(text);
    for (const secret of ['abcDEF', 's3cr3t', 'hunter2', ':pw@']) expect(out).not.to.contain(secret);
  });

  it('masks values under secret-looking keys in nested objects and leaves others alone', () => {
    const out = redact({ worker: 'w1', auth: { apiToken: 'x', password: 'y' }, list: [{ secret: 'z' }] });
    expect(out).to.deep.equal({
      worker: 'w1',
      auth: { apiToken: MASK, password: MASK },
      list: [{ secret: MASK }],
    });
  });

  it('logger output in JSON and pretty modes never contains the secret', () => {
    for (const format of ['json', 'text'] as const) {
      let written = '';
      const stream = new Writable({
        write(chunk, _enc, cb) {
          written += String(chunk);
          cb();
        },
      });
      const log = createLogger({ format, stream, level: 'debug' });
      log.info('request sent', { header: TOKEN, err: new Error(`failed with ${TOKEN}`), vmid: 101 });
      expect(written).to.contain('request sent');
      expect(written).to.contain('101');
      expect(written).not.to.contain('0b1c2d3e');
    }
  });
});
