/** The manifests' health as followed from the controller's load passes (GET /v1/manifests, metrics). */
import { expect } from 'chai';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { MAX_DIAGNOSTICS, ManifestHealth, revisionOf } from '../../controller/loop/manifest-health.js';
import type { Diagnostic } from '../../controller/types.js';
import { loadOf, workerSpec } from '../helpers/builders.js';
import { FakeClock } from '../helpers/clock.js';

const diag = (file: string, line: number, severity: Diagnostic['severity']): Diagnostic => ({
  file,
  line,
  col: 3,
  pointer: '/spec',
  severity,
  code: severity === 'error' ? 'schema.type' : 'semantic.undersized',
  message: `${severity} at ${line}`,
});
const converged = { actions: [], converged: true };

describe('manifest health', () => {
  it('a clean pass sets the last clean load; an invalid one keeps it and lists the errors first, at file:line:col', async () => {
    const clock = new FakeClock();
    const health = new ManifestHealth([join(process.cwd(), 'workers'), '/elsewhere/workers'], clock);
    expect(health.view()).to.deep.equal({
      paths: ['workers', '/elsewhere/workers'],
      diagnostics: [],
      diagnosticsOmitted: 0,
    });
    health.loaded({ load: loadOf([workerSpec('a')]), plan: converged, durationMs: 4 });
    const first = health.view().lastSuccessAt;
    expect(first).to.equal('2026-01-01T00:00:00.000Z');

    await clock.advance(1000);
    const load = loadOf([workerSpec('a')], { invalidFiles: [join(process.cwd(), 'workers/b.yaml')] });
    load.diagnostics.push(
      diag('workers/a.yaml', 5, 'warning'),
      diag(join(process.cwd(), 'workers/b.yaml'), 9, 'error'),
    );
    health.loaded({ load, plan: converged, durationMs: 4 });
    const v = health.view();
    expect(v.lastSuccessAt).to.equal(first);
    expect(v.lastLoad).to.deep.equal({
      at: '2026-01-01T00:00:01.000Z',
      files: 2,
      workers: 1,
      invalidFiles: ['workers/b.yaml'],
      errors: 1,
      warnings: 1,
      durationMs: 4,
    });
    expect(v.diagnostics.map((d) => `${d.file}:${d.line}:${d.col} ${d.severity}`)).to.deep.equal([
      'workers/b.yaml:9:3 error',
      'workers/a.yaml:5:3 warning',
    ]);
  });

  it('a pass that cannot read the manifests is shown until one reads them again', () => {
    const health = new ManifestHealth(['workers/']);
    const controller = new EventEmitter();
    health.follow(controller as never);
    controller.emit('load-failed', { error: 'workers/: no such file or directory' });
    expect(health.view().loadError?.message).to.equal('workers/: no such file or directory');
    controller.emit('loaded', { load: loadOf([]), plan: converged, durationMs: 1, changed: [], removed: [] });
    expect(health.view().loadError).to.equal(undefined);
  });

  it('keeps at most MAX_DIAGNOSTICS diagnostics and counts the rest', () => {
    const health = new ManifestHealth(['w/']);
    const load = loadOf([]);
    for (let i = 0; i < MAX_DIAGNOSTICS + 7; i++) load.diagnostics.push(diag('w/x.yaml', i + 1, 'error'));
    health.loaded({ load, plan: converged, durationMs: 1 });
    expect(health.view().diagnostics).to.have.length(MAX_DIAGNOSTICS);
    expect(health.view().diagnosticsOmitted).to.equal(7);
  });

  it('the loaded revision comes from the load result when it names one (a string or {commit})', () => {
    expect(revisionOf(loadOf([]))).to.equal(undefined);
    expect(revisionOf({ ...loadOf([]), revision: 'abc123' } as never)).to.equal('abc123');
    expect(revisionOf({ ...loadOf([]), revision: { commit: 'def456', dirty: false } } as never)).to.equal(
      'def456',
    );
    const health = new ManifestHealth(['w/']);
    const seen: (string | undefined)[] = [];
    health.onChange((v) => seen.push(v.lastLoad?.revision));
    health.loaded({ load: { ...loadOf([]), revision: 'abc123' } as never, plan: converged, durationMs: 1 });
    expect(seen).to.deep.equal(['abc123']);
  });
});
