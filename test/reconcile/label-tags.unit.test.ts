import { expect } from 'chai';
import { desiredConfig } from '../../controller/reconcile/desired-config.js';
import { labelTag, workerTags } from '../../controller/reconcile/label-tags.js';
import { normalizeTags } from '../../controller/reconcile/normalize.js';
import { identify } from '../../controller/reconcile/ownership.js';
import { OWNER, vm, workerRecord, workerSpec } from '../helpers/builders.js';

/** pve-common src/PVE/JSONSchema.pm `$PVE_TAG_RE`, matched case-insensitively as pve_verify_tag does. */
const PVE_TAG = /^[a-z0-9_][a-z0-9_\-+.]*$/i;

describe('labels as Proxmox tags', () => {
  it('each label is one tag PVE accepts, in the form PVE stores (lower-case, sorted, unique)', () => {
    const labels = {
      site: 'dc1',
      Rack: 'R3',
      'app.example.com/tier': 'Back Up!',
      spare: '',
      note: 'über:ä',
      '9lives': '-x',
    };
    const tags = workerTags(OWNER, labels);
    expect(tags).to.equal(normalizeTags(tags));
    expect(tags.split(';')).to.deep.equal([
      '9lives--x',
      'app.example.com_tier-back_up_',
      'note-_ber__',
      'rack-r3',
      'site-dc1',
      'spare',
      'workerctl',
    ]);
    for (const t of tags.split(';')) expect(t, t).to.match(PVE_TAG);
    expect(labelTag('site', 'dc1')).to.equal('site-dc1');
  });

  it('the owner tag is always there, so ownership still holds with labels (invariant 3)', () => {
    expect(workerTags(OWNER)).to.equal('workerctl');
    expect(workerTags(OWNER, { workerctl: '' }), 'a label cannot add a second owner tag').to.equal(
      'workerctl',
    );
    const spec = workerSpec('w1', { labels: { site: 'dc1' } });
    const cfg = desiredConfig(spec, { ownerTag: OWNER, uid: 'u1' });
    expect(cfg.tags).to.equal('site-dc1;workerctl');
    const rec = workerRecord(spec, {
      vmid: 100,
      deployed: { template: 'worker-template', storage: 'local-lvm', host: 'pve1' },
    });
    const view = identify(rec, [vm(100, { name: 'w1', tags: cfg.tags!.split(';') })], undefined, OWNER);
    expect(view.identity.kind).to.equal('ours');
  });
});
