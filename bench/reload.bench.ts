/**
 * Manifest reload benchmark: what one saved file costs the controller, with the stateless loader
 * (`loadManifests`, every file parsed again) and the cached one (`createManifestLoader`, as `workerctl
 * run` uses it), side by side in one run at 100 and 1,000 files (one worker per file).
 *
 * Prints per loader: the reload alone after one file changed (p50/p99), the directory walk inside it,
 * the Controller's load pass (reload + merge into the store), and save -> the changed worker's reconcile starting in the real Controller (watcher with its default
 * debounce, reload, merge into a LowdbStore with fsync, queue). That is save -> first Proxmox call
 * minus the call itself: the reconciler here is the real fleet's applyDesired with a reconcile that
 * only records when it starts (no simulator: the fleet-scale reconcile bench needs minutes).
 *
 * Env: BENCH_RELOAD_SIZES=100,1000  BENCH_RELOAD_ROUNDS=30
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { systemClock } from '../controller/clock.js';
import { silentLogger } from '../controller/log.js';
import type { ProxmoxClient } from '../controller/proxmox/client.js';
import type { FleetReconciler } from '../controller/reconcile/contracts.js';
import { createReconcileCore } from '../controller/reconcile/core.js';
import { makeSettings } from '../controller/reconcile/settings.js';
import { Controller } from '../controller/loop/controller.js';
import { collectManifestFiles } from '../controller/manifest/walk.js';
import { loadManifests } from '../controller/manifest/load.js';
import { createManifestLoader } from '../controller/manifest/cached-loader.js';
import { LowdbStore } from '../controller/store/lowdb-store.js';
import type { LoadResult } from '../controller/types.js';

const SIZES = (process.env.BENCH_RELOAD_SIZES ?? '100,1000')
  .split(',')
  .map(Number)
  .filter((n) => n > 0);
const ROUNDS = Number(process.env.BENCH_RELOAD_ROUNDS ?? 30);

type Load = (paths: string[]) => Promise<LoadResult>;
const LOADERS: [string, () => Load][] = [
  ['loadManifests (stateless)', () => (p) => loadManifests(p)],
  ['createManifestLoader (cached)', () => createManifestLoader().load],
];

function workerDoc(i: number): string {
  return [
    'apiVersion: workerctl.dev/v1',
    'kind: Worker',
    'metadata:',
    `  name: w-${String(i).padStart(5, '0')}`,
    'spec:',
    `  host: pve${(i % 10) + 1}`,
    '  template: worker-template',
    '  storage: local-lvm',
    '  networks: [{bridge: vmbr0, ipv4: dhcp}]',
    '  deploy: OnDemand',
    '',
  ].join('\n');
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(s.length * p) - 1))] ?? NaN;
};
const fmt = (xs: number[]): string => `p50 ${pct(xs, 0.5).toFixed(1)} / p99 ${pct(xs, 0.99).toFixed(1)} ms`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The reload alone and the walk inside it, one file edited before each round. */
async function reloadOnly(
  dir: string,
  file0: string,
  load: Load,
): Promise<{ reload: number[]; walk: number[] }> {
  const original = readFileSync(file0, 'utf8');
  await load([dir]);
  const reload: number[] = [];
  const walk: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    writeFileSync(file0, original + `  description: "reload ${i}"\n`);
    let t = performance.now();
    await load([dir]);
    reload.push(performance.now() - t);
    t = performance.now();
    await collectManifestFiles([dir]);
    walk.push(performance.now() - t);
  }
  writeFileSync(file0, original);
  return { reload, walk };
}

/** Save -> the changed worker's reconcile starts, through the real Controller and store. */
async function saveToReconcile(
  dir: string,
  state: string,
  file0: string,
  load: Load,
): Promise<{ lat: number[]; pass: number[] }> {
  const store = new LowdbStore({ stateDir: state });
  await store.open();
  const settings = makeSettings({ resyncIntervalMs: 0 });
  const client = {} as ProxmoxClient; // applyDesired and plan make no call
  const fleet = createReconcileCore({
    client,
    store,
    logger: silentLogger(),
    clock: systemClock,
    settings,
  });
  let started: number | undefined;
  const reconciler: FleetReconciler = {
    applyDesired: (l) => fleet.applyDesired(l),
    observe: () => Promise.resolve([]),
    plan: () => fleet.plan(),
    reconcile: (name) => {
      if (name === 'w-00000') started ??= Date.now();
      return Promise.resolve({ outcome: { kind: 'converged' } });
    },
    power: () => Promise.resolve(),
  };
  const controller = new Controller({
    manifestPaths: [dir],
    load,
    reconciler,
    store,
    settings,
    logger: silentLogger(),
    resyncIntervalMs: 0,
  });
  await controller.start();
  const pass: number[] = [];
  controller.on('loaded', (e) => pass.push(e.durationMs));
  const original = readFileSync(file0, 'utf8');
  const lat: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    await controller.waitForIdle();
    await sleep(150);
    started = undefined;
    const saved = Date.now();
    writeFileSync(file0, original + `  description: "edit ${i}"\n`);
    while (started === undefined && Date.now() < saved + 5000) await sleep(2);
    if (started !== undefined) lat.push(started - saved);
  }
  await controller.stop(5000);
  writeFileSync(file0, original);
  return { lat, pass };
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'workerctl-reload-bench-'));
  try {
    console.log(`one worker per file, one file edited per round, ${ROUNDS} rounds`);
    for (const n of SIZES) {
      const dir = join(root, `m-${n}`);
      mkdirSync(dir);
      for (let i = 0; i < n; i++)
        writeFileSync(join(dir, `f-${String(i).padStart(4, '0')}.yaml`), workerDoc(i));
      const file0 = join(dir, 'f-0000.yaml');
      const rows: string[] = [];
      for (const [label, make] of LOADERS) {
        const { reload, walk } = await reloadOnly(dir, file0, make());
        const state = mkdtempSync(join(root, 'state-'));
        const { lat, pass } = await saveToReconcile(dir, state, file0, make());
        rows.push(
          `  ${label.padEnd(30)} reload ${fmt(reload)} (walk ${fmt(walk)}); ` +
            `load pass (reload + merge into the store) ${fmt(pass)}; ` +
            `save -> reconcile starts ${fmt(lat)} (${lat.length}/${ROUNDS}; target p99 < 250 ms incl. the first call)`,
        );
      }
      console.log(`${n} files:`);
      rows.forEach((r) => console.log(r));
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
