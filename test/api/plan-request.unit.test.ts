import { expect } from 'chai';
import { HttpError } from '../../controller/api/http-errors.js';
import { PLAN_MAX_FILES, parsePlanRequest } from '../../controller/api/plan-request.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

function refusal(body: Record<string, unknown>): { status: number; param?: string; message: string } {
  try {
    parsePlanRequest(body);
  } catch (err) {
    if (err instanceof HttpError) return { status: err.status, param: err.param, message: err.message };
    throw err;
  }
  throw new Error('accepted');
}

describe('POST /v1/plan: the request body', () => {
  it('takes files (base64), the mass-delete override, a selector and the commit', () => {
    const req = parsePlanRequest({
      files: [
        { path: 'pve1.yaml', content: b64('a: 1\n') },
        {
          path: 'site/x.yml',
          unreadable: { code: 'file.too-large', message: 'file is larger than the limit' },
        },
      ],
      allowMassDelete: true,
      selector: 'site=dc1,!spare',
      revision: { commit: 'f'.repeat(40), ref: 'main' },
    });
    expect(req.files.map((f) => f.path)).to.deep.equal(['pve1.yaml', 'site/x.yml']);
    expect(Buffer.from(req.files[0]!.bytes).toString()).to.equal('a: 1\n');
    expect(req.files[1]!.unreadable).to.deep.equal({
      code: 'file.too-large',
      message: 'file is larger than the limit',
    });
    expect(req.allowMassDelete).to.equal(true);
    expect(req.selector!.requirements).to.have.length(2);
    expect(req.revision).to.deep.equal({ commit: 'f'.repeat(40), ref: 'main' });
    expect(parsePlanRequest({ files: [] }).allowMassDelete).to.equal(false);
  });

  it('refuses paths that leave the directory, are not YAML, repeat, and bad contents, naming the parameter', () => {
    const file = (path: unknown, content: unknown = b64('x')) => ({ files: [{ path, content }] });
    for (const path of [
      '../x.yaml',
      '/etc/x.yaml',
      'a//b.yaml',
      './a.yaml',
      'a/../b.yaml',
      'a\\b.yaml',
      'x.json',
      '',
      7,
    ]) {
      const r = refusal(file(path));
      expect([r.status, r.param], String(path)).to.deep.equal([400, 'files[0].path']);
    }
    expect(
      refusal({
        files: [
          { path: 'a.yaml', content: b64('x') },
          { path: 'a.yaml', content: b64('y') },
        ],
      }).param,
    ).to.equal('files[1].path');
    expect(refusal(file('a.yaml', 'not base64!')).param).to.equal('files[0].content');
    expect(refusal(file('a.yaml', 5)).param).to.equal('files[0].content');
    expect(
      refusal({ files: [{ path: 'a.yaml', unreadable: { code: 'rm -rf', message: 'x' } }] }).param,
    ).to.equal('files[0].unreadable');
    expect(refusal({ files: 'a.yaml' }).param).to.equal('files');
    expect(refusal({ files: new Array(PLAN_MAX_FILES + 1).fill({}) }).param).to.equal('files');
    expect(refusal({ files: [], selector: 'site=' + 'x'.repeat(100) }).param).to.equal('selector');
    expect(refusal({ files: [], allowMassDelete: 'yes' }).param).to.equal('allowMassDelete');
    expect(refusal({ files: [], revision: { commit: 'HEAD' } }).param).to.equal('revision.commit');
  });
});
