/**
 * The controller against the simulator (a separate `workerctl simulator` process, REALISTIC latency
 * profile of controller/simulator/latency.ts under a time scale), measured side by side in one run:
 *
 * (a) time to converge 100 and 1,000 Eager workers over 10 nodes, against the lower bound set by the
 *     same profile's task durations and the controller's concurrency limits;
 * (b) Proxmox API calls of one resync of the converged fleet (100 vs 1,000), with drift checks off
 *     (not due) and all due (bounded by driftBudgetPerPass);
 * (c) latency from saving a manifest to the first Proxmox call it causes (default debounce);
 * (d) RSS of a `workerctl run` process holding 1,000 and 10,000 workers.
 *
 * Run: npx tsc -p . && node dist/bench/run.js reconcile
 * Env: BENCH_SIZES=100,1000  BENCH_TIME_SCALE=20  BENCH_RSS_SIZES=1000,10000  BENCH_LATENCY_ROUNDS=50
 *      BENCH_PROFILE=fast (only for (b)-(c): converge with the fast profile)
 *      BENCH_CONCURRENCY (reconciles at once in (a); default: the runtime's 32)
 *      BENCH_ASSUMPTIONS=off (the simulator's models no Proxmox source grounds off: `--no-assumptions`)
 *      BENCH_LOADS=partial,main,full (the kinds of round in (c), in turn; default all three: partial
 *        loads with the watcher's default debounce, main's 50 ms debounce with partial loads, and
 *        full loads with main's debounce)
 *      BENCH_CPU_PROFILE=DIR (a CPU profile of the controller during (c), DIR/reconcile-c-<n>.cpuprofile)
 *
 * The world has a copy of the template on every node (each on that node's local-lvm), so every
 * worker's deploy path is a local clone, as README "Running against a real cluster" recommends; with
 * one template on pve1 every other node's worker would clone across to the shared storage and move its
 * disk (two copies, all through the one shared pool).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../controller/clock.js';
import { silentLogger } from '../controller/log.js';
import { packageRoot } from '../controller/paths.js';
import { openApp } from '../controller/compose/app.js';
import { DEFAULT_TASK_POLL } from '../controller/proxmox/options.js';
import { makeSettings } from '../controller/reconcile/settings.js';
import { REALISTIC_PROFILE } from '../controller/simulator/latency.js';
import { defaultWorld } from '../controller/simulator/world/default-world.js';
import { loadManifests } from '../controller/manifest/load.js';
import { createManifestLoader } from '../controller/manifest/cached-loader.js';
import { DEFAULT_DEBOUNCE } from '../controller/manifest/watch.js';
import type { LowdbStore } from '../controller/store/lowdb-store.js';
import { DatabaseText } from '../controller/store/database-text.js';
import type { StoreData } from '../controller/store/store.js';
import { emptyStoreData } from '../controller/store/schema.js';
import { splitRecord } from '../controller/store/sections.js';
import { mergeDesired } from '../controller/reconcile/desired-state.js';
import { cloneHandovers, describeMs } from './clone-handover.js';
import { quantile } from './quantile.js';
import { startSimProcess, templateOnEveryNode, workerDoc, type SimProcess } from './fleet-world.js';

const MAIN = join(packageRoot, 'dist', 'controller', 'main.js');
const SIZES = (process.env.BENCH_SIZES ?? '100,1000')
  .split(',')
  .map(Number)
  .filter((n) => n > 0);
const RSS_SIZES = (process.env.BENCH_RSS_SIZES ?? '1000,10000')
  .split(',')
  .map(Number)
  .filter((n) => n > 0);
const TIME_SCALE = Number(process.env.BENCH_TIME_SCALE ?? 20);
const LATENCY_ROUNDS = Number(process.env.BENCH_LATENCY_ROUNDS ?? 50);
/** Concurrent reconciles of the controller in (a); the runtime's default (32) when unset. */
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 0);
const NODES = 10;
/** BENCH_PROFILE=fast: (b) and (c) on a fleet converged quickly (the (a) figures then mean nothing). */
const PROFILE: 'fast' | 'realistic' = process.env.BENCH_PROFILE === 'fast' ? 'fast' : 'realistic';
/**
 * The kinds of round in (c), in turn: `partial` (partial loads, the watcher's default debounce: now),
 * `main` (partial loads, main's debounce of 50 ms quiet / 200 ms max) and `full` (full loads, main's
 * debounce: before partial loads).
 */
const KINDS = ['partial', 'main', 'full'] as const;
type Kind = (typeof KINDS)[number];
const LOADS: Kind[] = (process.env.BENCH_LOADS ?? KINDS.join(','))
  .split(',')
  .filter((k): k is Kind => (KINDS as readonly string[]).includes(k));
/** main's debounce, for the `main` and `full` rounds of (c). */
const MAIN_DEBOUNCE = { quietMs: 50, maxWaitMs: 200 };
/** The simulator's ASSUMPTION models (storage-lock chance, agent boot times) on (default) or off. */
const ASSUMPTIONS = process.env.BENCH_ASSUMPTIONS !== 'off';

/** The simulator as its own process: ten nodes, a template copy on every node (see the file comment). */
function startSim(dir: string, latency: 'fast' | 'realistic', timeScale: number): Promise<SimProcess> {
  return startSimProcess(dir, {
    world: templateOnEveryNode(NODES),
    latency,
    timeScale,
    assumptions: ASSUMPTIONS,
  });
}

/** Writes n workers, `perFile` documents per file; returns the file of worker 0. */
function writeFleet(dir: string, n: number, deploy: 'Eager' | 'OnDemand', perFile: number): string {
  mkdirSync(dir, { recursive: true });
  for (let f = 0; f * perFile < n; f++) {
    const docs: string[] = [];
    for (let i = f * perFile; i < Math.min(n, (f + 1) * perFile); i++) {
      docs.push(workerDoc(`w-${String(i).padStart(5, '0')}`, `pve${(i % NODES) + 1}`, `  deploy: ${deploy}`));
    }
    writeFileSync(join(dir, `f-${String(f).padStart(4, '0')}.yaml`), docs.join('\n---\n') + '\n');
  }
  return join(dir, 'f-0000.yaml');
}

const mean = ([a, b]: [number, number] | number[]): number => (b === undefined ? a : (a + b) / 2);
const asRange = (d: number | [number, number]): [number, number] => (typeof d === 'number' ? [d, d] : d);

/**
 * Lower bound of converging n Eager workers, in simulated ms, from the realistic profile and the
 * limits: the workers are spread round-robin over `nodes` nodes, each cloning onto its own
 * local-lvm (a non-shared storage: one disk, one storage lock and `clonesPerStorage` clone slots per
 * node, as PVE, the controller and the simulator key it). On each node clones run `cloneSlots` at a
 * time, each lasting fullCloneBase + used GiB at min(cloneGiBps, that node's storage bandwidth /
 * parallel clones); the busiest node sets the bound, and its last worker still needs its config
 * PUT and disk resize.
 */
function lowerBoundSimMs(
  n: number,
  cloneSlots: number,
  nodes: number,
): { ms: number; cloneMs: number; rounds: number } {
  const p = REALISTIC_PROFILE;
  const world = defaultWorld();
  const used = world.templates![0].disk!.used!;
  const bw = world.storages!.find((s) => s.id === 'local-lvm')!.bandwidthGiBps!;
  const perNode = Math.ceil(n / nodes);
  const parallel = Math.min(cloneSlots, perNode);
  const rate = Math.min(p.cloneGiBps, bw / parallel);
  const cloneMs = mean(asRange(p.fullCloneBase)) + (used / rate) * 1000;
  const rounds = Math.ceil(perNode / cloneSlots);
  const tail = mean(asRange(p.configPut)) + mean(asRange(p.resize));
  return { ms: rounds * cloneMs + tail, cloneMs, rounds };
}

/**
 * BENCH_CPU_PROFILE=DIR: a CPU profile of the controller process during (c) only (the rounds of
 * save -> first call), written as DIR/reconcile-<label>.cpuprofile; open it in Chrome DevTools.
 */
async function startCpuProfile(): Promise<
  ((label: string, rounds: { mode: string; saved: number; firstCall: number }[]) => Promise<void>) | undefined
> {
  const out = process.env.BENCH_CPU_PROFILE;
  if (!out) return undefined;
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  const startedAt = Date.now();
  return async (label, rounds) => {
    const { profile } = await session.post('Profiler.stop');
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, `reconcile-${label}.cpuprofile`), JSON.stringify(profile));
    // Each round's window (ms after the profile started), to slice the samples from save to first call.
    const windows = rounds.map((r) => ({ ...r, from: r.saved - startedAt, to: r.firstCall - startedAt }));
    writeFileSync(join(out, `reconcile-${label}.rounds.json`), JSON.stringify(windows));
    session.disconnect();
  };
}

async function benchFleet(n: number, dir: string): Promise<void> {
  const sim = await startSim(dir, PROFILE, PROFILE === 'fast' ? 1 : TIME_SCALE);
  const manifests = join(dir, `m-${n}`);
  const state = join(dir, `s-${n}`);
  const file0 = writeFleet(manifests, n, 'Eager', 1);
  let calls = 0;
  let lastCallStart = 0;
  let firstCall: number | undefined;
  let firstClone: number | undefined;
  const settings = makeSettings({ resyncIntervalMs: 0 });
  const loader = createManifestLoader();
  let loadMs = 0;
  const app = await openApp({
    endpoint: sim,
    clientOptions: {
      // Task listings and the rate budget on the simulator's clock (the fast profile's second is 10 ms).
      timeScale: PROFILE === 'fast' ? 100 : TIME_SCALE,
      // Task polling on the simulator's clock: the real 100 ms..2 s divided by the time scale.
      taskPoll: {
        initialMs: Math.max(1, DEFAULT_TASK_POLL.initialMs / TIME_SCALE),
        maxMs: Math.max(2, DEFAULT_TASK_POLL.maxMs / TIME_SCALE),
      },
      maxSockets: 32,
      onCall: (info) => {
        calls++;
        if (process.env.BENCH_DEBUG && firstCall === undefined)
          process.stderr.write(`call ${info.method} ${info.path} ${Date.now() - info.durationMs}\n`);
        lastCallStart = Math.max(lastCallStart, Date.now() - info.durationMs);
        firstCall ??= Date.now() - info.durationMs;
        if (info.method === 'POST' && info.path.endsWith('/clone'))
          firstClone ??= Date.now() - info.durationMs;
      },
    },
    settings,
    logger: silentLogger(),
    clock: systemClock,
    stateDir: state,
    // The cached loader, as in `workerctl run` (timed here).
    controller: {
      load: async (paths) => {
        const t = Date.now();
        const out = await loader.load(paths);
        loadMs = Date.now() - t;
        return out;
      },
      manifestPaths: [manifests],
      resyncIntervalMs: 0,
      ...(CONCURRENCY ? { workers: CONCURRENCY } : {}),
    },
  });
  const store = app.store as LowdbStore;
  const controller = app.controller!;
  const t0 = Date.now();
  const progress = setInterval(() => {
    const recs = store.listWorkers();
    const ready = recs.filter((r) =>
      r.status.conditions.some((c) => c.type === 'Ready' && c.status === 'True'),
    ).length;
    process.stderr.write(
      `  ... ${((Date.now() - t0) / 1000).toFixed(0)} s: ${ready}/${n} Ready, ${calls} calls\n`,
    );
  }, 10_000);
  await app.start();
  const res = await controller.waitForConvergence(30 * 60_000, { pollMs: 50 });
  const realMs = Date.now() - t0;
  clearInterval(progress);
  const bound = lowerBoundSimMs(n, settings.limits.clonesPerStorage, NODES);
  const boundReal = bound.ms / TIME_SCALE;
  const converged = res.converged ? 'converged' : `NOT converged (${res.pending.length} pending)`;
  const startupMs = (firstClone ?? t0) - t0;
  const cloneMs = realMs - startupMs;
  console.log(
    `(a) ${n} Eager workers, ${NODES} nodes, simulator assumptions ${ASSUMPTIONS ? 'on' : 'off'}: ${converged} in ${(realMs / 1000).toFixed(1)} s real ` +
      `= ${((realMs * TIME_SCALE) / 3_600_000).toFixed(2)} h simulated; lower bound ${(boundReal / 1000).toFixed(1)} s real ` +
      `(${bound.rounds} clone rounds x ${(bound.cloneMs / 1000).toFixed(1)} s sim, ` +
      `${settings.limits.clonesPerStorage} clone slots on each node's local-lvm); ratio ${(realMs / boundReal).toFixed(2)}x (target <= 1.1x)`,
  );
  console.log(
    `    of which: start (load ${n} manifests, record ${n} workers) to first clone call ${(startupMs / 1000).toFixed(1)} s; ` +
      `first clone to converged ${(cloneMs / 1000).toFixed(1)} s = ${(cloneMs / boundReal).toFixed(2)}x the bound; ` +
      `store: ${store.stats().writes} file writes, last ${store.stats().lastWriteMs.toFixed(1)} ms for ${(store.stats().lastWriteBytes / 1024).toFixed(0)} KiB`,
  );
  const hand = await cloneHandovers(
    sim,
    Array.from({ length: NODES }, (_, i) => `pve${i + 1}`),
  );
  const scale = PROFILE === 'fast' ? 1 : TIME_SCALE;
  console.log(
    `    clone hand-overs (a clone's end to the next clone sent on its node, ${hand.idle.length} of ${hand.clones} clones): ` +
      `slot idle ${describeMs(hand.idle, scale)}; of which end -> first task listing after it answered ${describeMs(hand.seen, scale)}, ` +
      `-> next clone sent ${describeMs(hand.relaunch, scale)}`,
  );

  // (b) calls per resync of the converged fleet.
  for (const [label, driftMs] of [
    ['drift checks not due', settings.driftCheckIntervalMs],
    ['every drift check due', 0],
  ] as const) {
    settings.driftCheckIntervalMs = driftMs;
    await controller.waitForIdle();
    const before = calls;
    const t = Date.now();
    await controller.resync();
    await controller.waitForIdle();
    console.log(
      `(b) resync of ${n} converged workers (${label}): ${calls - before} Proxmox API calls, ${Date.now() - t} ms ` +
        `(drift budget ${settings.driftBudgetPerPass} config reads per pass)`,
    );
  }
  settings.driftCheckIntervalMs = makeSettings().driftCheckIntervalMs;

  // (c) save -> first Proxmox call, with partial loads (merge and plan only what changed) and the
  // watcher's debounce, with main's debounce, and with every load merging the whole fleet, round by
  // round in turn so that all see the same machine.
  const profiler = await startCpuProfile();
  // The longest event loop delay from each save to its first call (stalls of the whole process show
  // here), and the loop's busy share over all of (c). The monitor runs throughout: one switched off and
  // on again counts the time it was off as a delay.
  const roundDelay = monitorEventLoopDelay({ resolution: 2 });
  roundDelay.enable();
  const roundMaxDelay: number[] = [];
  const elu0 = performance.eventLoopUtilization();
  const lat: Record<Kind, number[]> = { partial: [], main: [], full: [] };
  const rounds: { mode: string; saved: number; firstCall: number }[] = [];
  // Where the time goes, per round: save -> the watcher's first event -> the load pass starts (debounce)
  // -> the manifests are loaded -> the first call (merge, plan).
  const parts: Record<Kind, number[][]> = { partial: [], main: [], full: [] };
  let pass: { eventAt?: number; startAt: number } | undefined;
  controller.on('loaded', (e) => {
    pass ??= { eventAt: e.firstEventAt, startAt: Date.now() - e.durationMs };
  });
  const original = readFileSync(file0, 'utf8');
  for (let i = 0; i < LOADS.length * LATENCY_ROUNDS; i++) {
    const mode = LOADS[i % LOADS.length]!;
    controller.partialLoads = mode !== 'full';
    controller.setDebounce(mode === 'partial' ? DEFAULT_DEBOUNCE : MAIN_DEBOUNCE);
    await controller.waitForIdle();
    await new Promise((r) => setTimeout(r, 150));
    firstCall = undefined;
    pass = undefined;
    const text = original + `  description: "edit ${i}"\n`;
    roundDelay.reset();
    const saved = Date.now();
    if (process.env.BENCH_DEBUG) process.stderr.write(`saved ${saved}\n`);
    writeFileSync(file0, text);
    const deadline = saved + 5000;
    while (firstCall === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    const maxDelay = Math.round(roundDelay.max / 1e6);
    if (firstCall !== undefined) roundMaxDelay.push(maxDelay);
    if (firstCall !== undefined) {
      lat[mode].push(Math.max(0, firstCall - saved));
      rounds.push({ mode, saved, firstCall });
    }
    await controller.waitForIdle();
    const seen = pass as { eventAt?: number; startAt: number } | undefined;
    if (firstCall !== undefined && seen?.eventAt !== undefined)
      parts[mode].push([
        seen.eventAt - saved,
        seen.startAt - seen.eventAt,
        loadMs,
        Math.round(firstCall - seen.startAt - loadMs),
        Math.round(firstCall - saved),
        maxDelay,
      ]);
  }
  controller.partialLoads = true;
  roundDelay.disable();
  const elu = performance.eventLoopUtilization(elu0);
  await profiler?.(`c-${n}`, rounds);
  const delays = roundMaxDelay.sort((a, b) => a - b);
  console.log(
    `    (c) longest event loop delay from save to first call, per round: p50 ${quantile(delays, 0.5)} ms, ` +
      `p99 ${quantile(delays, 0.99)} ms (2 ms resolution); event loop busy ${(elu.utilization * 100).toFixed(0)}% over (c)`,
  );
  const debounce = (d: { quietMs: number; maxWaitMs: number }) =>
    `debounce ${d.quietMs} ms quiet / ${d.maxWaitMs} ms max`;
  for (const [mode, label] of [
    ['partial', `partial loads (merge and plan the changed workers), ${debounce(DEFAULT_DEBOUNCE)}`],
    ['main', `partial loads, main's ${debounce(MAIN_DEBOUNCE)}`],
    ['full', `full loads (merge and plan the fleet: before), main's ${debounce(MAIN_DEBOUNCE)}`],
  ] as const) {
    if (lat[mode].length === 0) continue;
    const l = lat[mode].sort((a, b) => a - b);
    const median = (k: number) =>
      quantile(
        parts[mode].map((p) => p[k]!).sort((a, b) => a - b),
        0.5,
      )?.toFixed(0);
    console.log(
      `(c) save -> first Proxmox call, ${n} workers, ${label} (${l.length}/${LATENCY_ROUNDS} rounds): ` +
        `p50 ${quantile(l, 0.5)?.toFixed(0)} ms, p90 ${quantile(l, 0.9)?.toFixed(0)} ms, p99 ${quantile(l, 0.99)?.toFixed(0)} ms, max ${l.at(-1)?.toFixed(0)} ms (target p99 < 100 ms at 1,000); ` +
        `medians: save -> watcher event ${median(0)} ms, -> load pass starts ${median(1)} ms, load ${median(2)} ms, merge and plan -> first call ${median(3)} ms`,
    );
    const worst = [...parts[mode]].sort((a, b) => b[4]! - a[4]!).slice(0, 3);
    console.log(
      `    slowest rounds (save -> event; -> load pass; load; merge and plan = total ms, longest event loop delay): ` +
        worst.map((p) => `${p[0]}; ${p[1]}; ${p[2]}; ${p[3]} = ${p[4]} (${p[5]})`).join(', '),
    );
  }
  await controller.waitForIdle();
  benchDatabaseText(store.file, n);
  await app.stop(5000);
  await app.close();
  await sim.stop();
}

/**
 * What one durable write costs the event loop at this fleet size: the whole file serialised (before)
 * against the parts kept per worker with one worker changed (store/database-text.ts); both give the
 * same text.
 */
function benchDatabaseText(file: string, n: number): void {
  const data = JSON.parse(readFileSync(file, 'utf8')) as StoreData;
  const name = Object.keys(data.workers)[0]!;
  const text = new DatabaseText();
  text.of(data);
  const rounds = 20;
  let t = performance.now();
  let whole: Buffer = Buffer.alloc(0);
  for (let i = 0; i < rounds; i++) whole = Buffer.from(JSON.stringify(data, null, 2) + '\n');
  const wholeMs = (performance.now() - t) / rounds;
  t = performance.now();
  let parts: Buffer = Buffer.alloc(0);
  for (let i = 0; i < rounds; i++) {
    data.workers[name]!.status.observedGeneration++;
    text.changed([name]);
    parts = text.of(data);
  }
  const partsMs = (performance.now() - t) / rounds;
  if (!parts.equals(Buffer.from(JSON.stringify(data, null, 2) + '\n')))
    throw new Error('database text differs from JSON.stringify');
  console.log(
    `    store write of ${n} workers (${(whole.length / 1024).toFixed(0)} KiB): serialising and encoding the whole file ${wholeMs.toFixed(1)} ms, ` +
      `with each worker's part kept (one changed) ${partsMs.toFixed(1)} ms of the event loop`,
  );
}

/**
 * (d): RSS of a `workerctl run` child holding n OnDemand workers. The database is seeded with the
 * records the first load would write (mergeDesired, the core's own merge), so the figure is the
 * steady state of a controller restarted over an existing fleet; the first load of an empty database is
 * timed separately at 1,000 (one durable batch write).
 */
async function benchRss(n: number, dir: string, sim: SimProcess): Promise<void> {
  const manifests = join(dir, `rss-m-${n}`);
  const state = join(dir, `rss-s-${n}`);
  writeFleet(manifests, n, 'OnDemand', 100);
  const load = await loadManifests([manifests]);
  const merged = mergeDesired([], load, makeSettings(), new Date().toISOString(), () => randomUUID());
  const data = emptyStoreData();
  for (const r of merged.save) data.workers[r.name] = splitRecord(r);
  mkdirSync(state, { recursive: true });
  writeFileSync(join(state, 'workerctl.db.json'), JSON.stringify(data));
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, sim.token);
  const t0 = Date.now();
  const child = spawn(
    process.execPath,
    [
      MAIN,
      'run',
      '-f',
      manifests,
      '--server',
      sim.url,
      '--token-file',
      tokenFile,
      '--state-dir',
      state,
      '--no-view',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, WORKERCTL_LOG_LEVEL: 'info' } },
  );
  // Settled: the first pass reconciled every worker (one 'fleet' line with queued 0 and nothing in flight).
  await new Promise<void>((resolve) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      if (
        /"controller started"/.test(buf) &&
        /"inFlight":0,"level":"info","message":"fleet","queued":0/.test(buf)
      ) {
        child.stderr!.off('data', onData);
        resolve();
      }
    };
    child.stderr!.on('data', onData);
    setTimeout(resolve, 300_000).unref();
  });
  child.stderr!.resume();
  const settledMs = Date.now() - t0;
  await new Promise((r) => setTimeout(r, 2000));
  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
  const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const hwmKiB = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  console.log(
    `(d) workerctl run over ${n} recorded workers (OnDemand, ${Math.ceil(n / 100)} files of 100): RSS ${(rssKiB / 1024).toFixed(0)} MiB, ` +
      `peak ${(hwmKiB / 1024).toFixed(0)} MiB; first pass (load, observe, reconcile all) done after ${(settledMs / 1000).toFixed(1)} s`,
  );
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** First load of n workers into an empty database (in process): how long until all are recorded. */
async function benchFirstLoad(n: number, dir: string, sim: SimProcess): Promise<void> {
  const manifests = join(dir, `first-m-${n}`);
  writeFleet(manifests, n, 'OnDemand', 100);
  const app = await openApp({
    endpoint: sim,
    settings: makeSettings(),
    logger: silentLogger(),
    stateDir: join(dir, `first-s-${n}`),
  });
  const store = app.store as LowdbStore;
  const t0 = Date.now();
  await app.core.applyDesired(await loadManifests([manifests]));
  console.log(
    `    first load of ${n} workers into an empty database: ${((Date.now() - t0) / 1000).toFixed(1)} s ` +
      `(${store.stats().writes} file writes; applyDesired saves the merge as one durable batch)`,
  );
  await app.close();
}

const dir = mkdtempSync(join(tmpdir(), 'workerctl-bench-'));
try {
  console.log(
    (PROFILE === 'fast'
      ? 'simulator: separate process, FAST profile (BENCH_PROFILE=fast: only (b) and (c) mean something); '
      : `simulator: separate process, REALISTIC profile (controller/simulator/latency.ts) at time scale ${TIME_SCALE} `) +
      `(1 real s = ${TIME_SCALE} simulated s); controller defaults (clonesPerStorage 2, perStorage 4, perNode 4, 32 reconciles)`,
  );
  for (const n of SIZES) await benchFleet(n, dir);
  const sim = await startSim(dir, 'fast', 1);
  for (const n of RSS_SIZES) await benchRss(n, dir, sim);
  if (RSS_SIZES.length > 0) await benchFirstLoad(1000, dir, sim);
  await sim.stop();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
