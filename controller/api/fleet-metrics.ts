/**
 * Gauges to alert on, computed at scrape time: each worker's Ready and phase (labels worker, host),
 * the manifests' health (invalid files, load failures, last clean load, loaded revision), deletions
 * held back by the mass-delete guard, and conflicts with foreign VMs. Example alert rules that use
 * them are in examples/observability/.
 */
import { Gauge, type Registry } from 'prom-client';
import { PHASES } from '../lifecycle/phases.js';
import type { ManifestHealthView } from '../loop/manifest-health.js';
import { conditionOf, isReady } from '../loop/snapshot.js';
import type { WorkerRecord } from '../types.js';

/** Where the gauges read from; undefined while not bound (no sample is exported then). */
export interface FleetMetricSources {
  workers(): WorkerRecord[] | undefined;
  manifests(): ManifestHealthView | undefined;
}

export function registerFleetMetrics(registry: Registry, src: FleetMetricSources): void {
  const registers = [registry];
  new Gauge({
    name: 'workerctl_worker_ready',
    help: '1 when the worker is Ready for its current generation, else 0.',
    labelNames: ['worker', 'host'],
    registers,
    collect() {
      // Reset first: a removed worker's series goes away with it.
      this.reset();
      for (const w of src.workers() ?? [])
        this.set({ worker: w.name, host: w.spec.host }, isReady(w) ? 1 : 0);
    },
  });
  new Gauge({
    name: 'workerctl_worker_phase',
    help: '1 for the phase the worker is in (Configured, Testing, Updating, Working, ShutDown), 0 for the others.',
    labelNames: ['worker', 'host', 'phase'],
    registers,
    collect() {
      this.reset();
      for (const w of src.workers() ?? [])
        for (const phase of PHASES)
          this.set({ worker: w.name, host: w.spec.host, phase }, w.status.phase === phase ? 1 : 0);
    },
  });
  new Gauge({
    name: 'workerctl_conflicts',
    help: 'Workers a foreign VM clashes with: reported and left alone until a person resolves it (invariant 3).',
    registers,
    collect() {
      const workers = src.workers();
      if (workers) this.set(workers.filter((w) => conditionOf(w, 'Ready')?.reason === 'Conflict').length);
    },
  });
  new Gauge({
    name: 'workerctl_deletions_held_back',
    help: 'Workers whose deletion the mass-delete guard holds back until --allow-mass-delete (invariant 2).',
    registers,
    collect() {
      const m = src.manifests();
      if (m) this.set(m.massDeleteBlocked?.wouldDelete ?? 0);
    },
  });
  new Gauge({
    name: 'workerctl_manifest_invalid_files',
    help: 'Manifest files with at least one error at the last load; their workers keep their last valid spec.',
    registers,
    collect() {
      const last = src.manifests()?.lastLoad;
      if (last) this.set(last.invalidFiles.length);
    },
  });
  new Gauge({
    name: 'workerctl_manifest_errors',
    help: 'Errors found in the manifests at the last load.',
    registers,
    collect() {
      const last = src.manifests()?.lastLoad;
      if (last) this.set(last.errors);
    },
  });
  new Gauge({
    name: 'workerctl_manifest_load_failed',
    help: '1 when the last attempt could not read the manifests at all (a path missing or unreadable), else 0.',
    registers,
    collect() {
      const m = src.manifests();
      if (m) this.set(m.loadError ? 1 : 0);
    },
  });
  new Gauge({
    name: 'workerctl_manifest_last_success_timestamp_seconds',
    help: 'When every manifest file last loaded valid, in seconds since the epoch (0: not yet).',
    registers,
    collect() {
      const at = src.manifests()?.lastSuccessAt;
      if (at) this.set(Date.parse(at) / 1000);
    },
  });
  new Gauge({
    name: 'workerctl_manifest_info',
    help: 'The loaded manifests; label revision: the Git commit when known, else "unknown". Always 1.',
    labelNames: ['revision'],
    registers,
    collect() {
      this.reset();
      const last = src.manifests()?.lastLoad;
      if (last) this.set({ revision: last.revision ?? 'unknown' }, 1);
    },
  });
}
