import { expect } from 'chai';
import { documentStarts, fastParseDocuments } from '../../controller/manifest/fast-parse.js';
import {
  broadcastOf,
  formatIpv4,
  inSubnet,
  networkOf,
  parseCidr,
  parseIpv4,
} from '../../controller/manifest/ipv4.js';
import { formatGithub, summaryLine } from '../../controller/cli/present/validate-report.js';
import { closest } from '../../controller/manifest/suggest.js';
import { firstInvalidByte } from '../../controller/manifest/utf8.js';
import type { LoadResult } from '../../controller/types.js';

describe('spec: small helpers', () => {
  const utf8: { name: string; bytes: number[]; at: number }[] = [
    { name: 'ASCII', bytes: [0x61, 0x62], at: 2 },
    {
      name: 'valid 2, 3 and 4 byte sequences',
      bytes: [0xc3, 0xa9, 0xe2, 0x9c, 0x93, 0xf0, 0x9f, 0x98, 0x80],
      at: 9,
    },
    { name: 'a Latin-1 byte', bytes: [0x61, 0xe9, 0x62], at: 1 },
    { name: 'an overlong encoding', bytes: [0x61, 0xc0, 0xaf], at: 1 },
    { name: 'an overlong 3-byte encoding', bytes: [0xe0, 0x80, 0xaf], at: 0 },
    { name: 'a UTF-16 surrogate', bytes: [0x61, 0xed, 0xa0, 0x80], at: 1 },
    { name: 'a sequence cut at the end', bytes: [0x61, 0x62, 0xe2, 0x9c], at: 2 },
    { name: 'a code point above U+10FFFF', bytes: [0xf4, 0x90, 0x80, 0x80], at: 0 },
    { name: 'a lone continuation byte', bytes: [0x80], at: 0 },
  ];
  for (const tc of utf8) {
    it(`finds the first invalid UTF-8 byte: ${tc.name}`, () => {
      expect(firstInvalidByte(Uint8Array.from(tc.bytes))).to.equal(tc.at);
    });
  }

  it('does IPv4 arithmetic', () => {
    const c = parseCidr('10.1.2.3/20')!;
    expect(formatIpv4(networkOf(c))).to.equal('10.1.0.0');
    expect(formatIpv4(broadcastOf(c))).to.equal('10.1.15.255');
    expect(inSubnet(c, parseIpv4('10.1.15.1')!)).to.equal(true);
    expect(inSubnet(c, parseIpv4('10.1.16.1')!)).to.equal(false);
    expect(parseIpv4('256.0.0.1')).to.equal(undefined);
    expect(parseCidr('10.0.0.1')).to.equal(undefined);
    expect(formatIpv4(broadcastOf(parseCidr('10.0.0.1/32')!))).to.equal('10.0.0.1');
  });

  it('suggests close names only', () => {
    expect(closest('maxConcurentTasks', ['maxConcurrentTasks', 'cpus'])).to.equal('maxConcurrentTasks');
    expect(closest('ondemand', ['OnDemand', 'Eager'])).to.equal('OnDemand');
    expect(closest('zzz', ['OnDemand', 'Eager'])).to.equal(undefined);
  });

  it('finds document starts (markers, comments, directives, content after ---)', () => {
    const text = '%YAML 1.2\n# c\n---\n\n  a: 1\n--- {b: 2}\n...\n# tail\n---\n# empty\n';
    expect(documentStarts(text).map((o) => text.slice(o, o + 4))).to.deep.equal(['a: 1', '{b: ']);
    expect(fastParseDocuments('a: &x [1]\nb: *x\n')).to.equal(undefined); // an alias of a collection
    expect(fastParseDocuments('a: 0b101\n')).to.equal(undefined); // read differently by the two parsers
    expect(fastParseDocuments('a: 1\na: 2\n')).to.equal(undefined);
  });

  it('escapes GitHub annotation data and properties', () => {
    const result: LoadResult = {
      files: ['/w/a,b:c.yaml'],
      workers: [],
      invalidFiles: ['/w/a,b:c.yaml'],
      diagnostics: [
        {
          file: '/w/a,b:c.yaml',
          line: 2,
          col: 3,
          pointer: '',
          severity: 'error',
          code: 'x.y',
          message: '100% bad\nreally',
          hint: 'h',
        },
      ],
    };
    expect(formatGithub(result, { cwd: '/w' }).split('\n')[0]).to.equal(
      '::error file=a%2Cb%3Ac.yaml,line=2,col=3,title=workerctl x.y::100%25 bad%0Areally%0Ahint: h',
    );
    expect(summaryLine({ files: 1, workers: 1, errors: 1, warnings: 0 })).to.equal(
      '1 file, 1 worker, 1 error',
    );
  });
});
