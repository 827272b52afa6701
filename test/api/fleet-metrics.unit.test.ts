/**
 * Metrics to alert on: each worker's Ready and phase (labels worker, host), the manifests' health,
 * deletions held back, conflicts, build info, and Node's process metrics under their standard
 * names (no workerctl_ prefix).
 */
import { expect } from 'chai';
import { ControllerMetrics } from '../../controller/api/metrics.js';
import { ManifestHealth } from '../../controller/loop/manifest-health.js';
import { packageVersion } from '../../controller/paths.js';
import { MemoryStore } from '../../controller/store/memory-store.js';
import type { Condition } from '../../controller/types.js';
import { loadOf, makeStatus, workerRecord, workerSpec } from '../helpers/builders.js';
import { FakeClock } from '../helpers/clock.js';

const T = '2026-01-01T00:00:00.000Z';
const cond = (type: Condition['type'], status: Condition['status'], reason: string): Condition => ({
  type,
  status,
  reason,
  message: '',
  lastTransitionTime: T,
});

/** The value of one sample of the exposition text, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries(
      [...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]),
    );
    if (
      Object.entries(labels).every(([k, v]) => got[k] === v) &&
      Object.keys(got).length === Object.keys(labels).length
    )
      return Number(m[3]);
  }
  return undefined;
}

describe('fleet metrics', () => {
  let store: MemoryStore;
  let metrics: ControllerMetrics;

  beforeEach(async () => {
    store = new MemoryStore({ clock: new FakeClock() });
    await store.open();
    await store.seedWorker(
      workerRecord(workerSpec('w-ready', { host: 'pve1' }), {
        status: makeStatus({
          phase: 'ShutDown',
          observedGeneration: 1,
          conditions: [cond('Ready', 'True', 'Converged')],
        }),
      }),
    );
    await store.seedWorker(
      workerRecord(workerSpec('w-conflict', { host: 'pve2' }), {
        status: makeStatus({ conditions: [cond('Ready', 'False', 'Conflict')] }),
      }),
    );
    metrics = new ControllerMetrics({ processMetrics: false });
    metrics.bindStore(store);
  });

  it('per worker: workerctl_worker_ready and workerctl_worker_phase with labels worker and host', async () => {
    const text = await metrics.text();
    expect(sample(text, 'workerctl_worker_ready', { worker: 'w-ready', host: 'pve1' })).to.equal(1);
    expect(sample(text, 'workerctl_worker_ready', { worker: 'w-conflict', host: 'pve2' })).to.equal(0);
    expect(
      sample(text, 'workerctl_worker_phase', { worker: 'w-ready', host: 'pve1', phase: 'ShutDown' }),
    ).to.equal(1);
    expect(
      sample(text, 'workerctl_worker_phase', { worker: 'w-ready', host: 'pve1', phase: 'Working' }),
    ).to.equal(0);
    expect(
      sample(text, 'workerctl_worker_phase', { worker: 'w-conflict', host: 'pve2', phase: 'Configured' }),
    ).to.equal(1);
    expect(sample(text, 'workerctl_conflicts')).to.equal(1);
    // A removed worker's series go away with it.
    await store.deleteWorker('w-conflict');
    const after = await metrics.text();
    expect(after).not.to.include('w-conflict');
    expect(sample(after, 'workerctl_conflicts')).to.equal(0);
  });

  it("the manifests' health: invalid files, errors, load failure, last clean load, revision, deletions held back", async () => {
    const clock = new FakeClock({ start: Date.parse('2026-03-01T10:00:00.000Z') });
    const health = new ManifestHealth(['workers/'], clock);
    metrics.bindManifests(() => health.view());
    // Before the first pass: zeros (no clean load yet is timestamp 0), and no revision.
    const before = await metrics.text();
    expect(sample(before, 'workerctl_manifest_invalid_files')).to.equal(0);
    expect(sample(before, 'workerctl_manifest_last_success_timestamp_seconds')).to.equal(0);
    expect(before).not.to.match(/^workerctl_manifest_info/m);

    const good = loadOf([workerSpec('w-ready')]);
    health.loaded({ load: good, plan: { actions: [], converged: true }, durationMs: 3 });
    let text = await metrics.text();
    expect(sample(text, 'workerctl_manifest_invalid_files')).to.equal(0);
    expect(sample(text, 'workerctl_manifest_load_failed')).to.equal(0);
    expect(sample(text, 'workerctl_manifest_last_success_timestamp_seconds')).to.equal(
      Date.parse('2026-03-01T10:00:00.000Z') / 1000,
    );
    expect(sample(text, 'workerctl_manifest_info', { revision: 'unknown' })).to.equal(1);
    expect(sample(text, 'workerctl_deletions_held_back')).to.equal(0);

    await clock.advance(60_000);
    const bad = {
      ...loadOf([workerSpec('w-ready')], { invalidFiles: ['workers/b.yaml'] }),
      revision: '3f2a9c1',
    };
    bad.diagnostics.push({
      file: 'workers/b.yaml',
      line: 3,
      col: 1,
      pointer: '',
      severity: 'error',
      code: 'yaml.syntax',
      message: 'bad',
    });
    health.loaded({
      load: bad,
      plan: { actions: [], converged: false, massDeleteBlocked: { wouldDelete: 5, of: 6, threshold: '50%' } },
      durationMs: 3,
    });
    text = await metrics.text();
    expect(sample(text, 'workerctl_manifest_invalid_files')).to.equal(1);
    expect(sample(text, 'workerctl_manifest_errors')).to.equal(1);
    // The last clean load is still the first pass.
    expect(sample(text, 'workerctl_manifest_last_success_timestamp_seconds')).to.equal(
      Date.parse('2026-03-01T10:00:00.000Z') / 1000,
    );
    expect(sample(text, 'workerctl_manifest_info', { revision: '3f2a9c1' })).to.equal(1);
    expect(sample(text, 'workerctl_manifest_info', { revision: 'unknown' })).to.equal(undefined);
    expect(sample(text, 'workerctl_deletions_held_back')).to.equal(5);

    health.failed('workers/: no such directory');
    expect(sample(await metrics.text(), 'workerctl_manifest_load_failed')).to.equal(1);
  });

  it('build info, and the process and Node metrics under their standard names', async () => {
    const withProcess = new ControllerMetrics();
    const text = await withProcess.text();
    expect(
      sample(text, 'workerctl_build_info', { version: packageVersion(), nodejs: process.version }),
    ).to.equal(1);
    for (const name of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_seconds',
      'nodejs_heap_size_used_bytes',
    ])
      expect(text, name).to.match(new RegExp(`^# TYPE ${name} `, 'm'));
    expect(text).not.to.match(/^workerctl_(process|nodejs)_/m);
  });
});
