/**
 * The runtime loop with a scripted reconcile core: what the loop itself promises (level-triggered load
 * passes, one pass per burst, the retry table, convergence waits, clean stop), independent of how the
 * core converges a VM. The real core and the simulator are exercised by test/e2e.
 */
import { expect } from 'chai';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TerminalError } from '../../controller/errors.js';
import { silentLogger } from '../../controller/log.js';
import type {
  FleetReconciler,
  Plan,
  PowerOp,
  ReconcileResult,
  IntakeResult,
} from '../../controller/reconcile/contracts.js';
import { makeSettings } from '../../controller/reconcile/settings.js';
import { Controller, type LoadFn, type LoadedEvent } from '../../controller/loop/controller.js';
import { MemoryStore } from '../../controller/store/memory-store.js';
import type { LoadResult, WorkerRecord } from '../../controller/types.js';
import type { VmResource } from '../../controller/proxmox/types.js';
import { makeTempDir } from '../helpers/temp-dir.js';

/** Manifest stand-in: one file per worker, content = a version string; '!' makes the file invalid. */
const fakeLoad: LoadFn = async (paths) => {
  const { readdirSync, readFileSync, existsSync } = await import('node:fs');
  const result: LoadResult = { workers: [], diagnostics: [], files: [], invalidFiles: [] };
  for (const dir of paths) {
    if (!existsSync(dir)) {
      result.diagnostics.push({
        file: dir,
        line: 1,
        col: 1,
        pointer: '',
        severity: 'error',
        code: 'path.missing',
        message: 'gone',
      });
      continue;
    }
    for (const f of readdirSync(dir)
      .filter((n) => n.endsWith('.yaml'))
      .sort()) {
      const file = join(dir, f);
      const text = readFileSync(file, 'utf8').trim();
      result.files.push(file);
      if (text.includes('!')) {
        result.invalidFiles.push(file);
        result.diagnostics.push({
          file,
          line: 1,
          col: 1,
          pointer: '',
          severity: 'error',
          code: 'yaml.syntax',
          message: 'bad',
        });
        continue;
      }
      const name = f.replace('.yaml', '');
      result.workers.push({
        spec: { name, host: 'pve1' } as LoadResult['workers'][number]['spec'],
        source: { file, line: 1, col: 1 },
        specHash: text,
      });
    }
  }
  return result;
};

/** A core that converges a worker by remembering its spec hash; failures scripted per name. */
class ScriptedFleet implements FleetReconciler {
  applied = 0;
  observed = 0;
  converged = new Map<string, string>();
  reconciles: string[] = [];
  failOnce = new Set<string>();
  failTerminal = new Set<string>();
  slow = new Map<string, number>();
  /** Per applyDesired call: whether a partial merge was asked for. */
  partials: boolean[] = [];
  /** Set: a merge asked to return before its durable write returns this as `saved`. */
  saving?: Promise<void>;
  constructor(readonly store: MemoryStore) {}

  async applyDesired(
    load: LoadResult,
    opts: { partial?: boolean; beforeSaved?: boolean } = {},
  ): Promise<IntakeResult> {
    const merged = await this.#merge(load, opts);
    if (opts.beforeSaved && this.saving) merged.saved = this.saving;
    return merged;
  }

  async #merge(load: LoadResult, opts: { partial?: boolean }): Promise<IntakeResult> {
    this.applied++;
    this.partials.push(opts.partial === true);
    const changed: string[] = [];
    const removed: string[] = [];
    const keep = new Set(load.invalidFiles);
    const seen = new Set<string>();
    for (const w of load.workers) {
      seen.add(w.spec.name);
      const prev = this.store.getWorker(w.spec.name);
      if (prev?.specHash === w.specHash) continue;
      changed.push(w.spec.name);
      await this.store.seedWorker(
        record(w.spec.name, w.specHash, (prev?.generation ?? 0) + 1, w.source.file),
      );
    }
    for (const r of this.store.listWorkers()) {
      if (!seen.has(r.name) && !keep.has(r.source?.file ?? '')) {
        removed.push(r.name);
        await this.store.deleteWorker(r.name);
      }
    }
    const plan = await this.plan();
    if (!opts.partial) return { changed, removed, plan };
    // As the intake's partial merge: the plan of what changed only.
    const planned = [...changed, ...removed];
    return {
      changed,
      removed,
      planned,
      plan: { ...plan, actions: plan.actions.filter((a) => planned.includes(a.worker)) },
    };
  }

  async observe(): Promise<VmResource[]> {
    this.observed++;
    return [];
  }

  async plan(): Promise<Plan> {
    const actions = this.store
      .listWorkers()
      .filter((r) => this.converged.get(r.name) !== r.specHash)
      .map((r) => ({
        worker: r.name,
        kind: 'configure' as const,
        class: 'live' as const,
        reason: 'spec changed',
        changes: [],
      }));
    return { actions, converged: actions.length === 0 };
  }

  async reconcile(name: string, signal: AbortSignal): Promise<ReconcileResult> {
    this.reconciles.push(name);
    const ms = this.slow.get(name);
    if (ms) {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, ms);
        signal.addEventListener('abort', () => {
          clearTimeout(t);
          reject(signal.reason);
        });
      });
    }
    if (this.failTerminal.has(name)) throw new TerminalError('template missing');
    if (this.failOnce.delete(name)) throw new Error('proxmox said no');
    const r = this.store.getWorker(name);
    if (!r) return { outcome: { kind: 'gone' as const } };
    this.converged.set(name, r.specHash);
    return { outcome: { kind: 'converged' as const } };
  }

  powered: string[] = [];
  async power(name: string, op: PowerOp): Promise<void> {
    this.powered.push(`${name}:${op}`);
  }
}

function record(name: string, specHash: string, generation: number, file: string): WorkerRecord {
  return {
    name,
    spec: { name, host: 'pve1', deploy: 'Eager' } as WorkerRecord['spec'],
    specHash,
    generation,
    source: { file, line: 1, col: 1 },
    status: { phase: 'Configured', conditions: [], observedGeneration: 0, sessions: [], history: [] },
  };
}

function until(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (cond()) return resolve();
      if (Date.now() - t0 > timeoutMs) return reject(new Error('condition not met in time'));
      setTimeout(tick, 10);
    };
    tick();
  });
}

describe('controller runtime loop', function () {
  this.timeout(10_000);
  let dir: { path: string; remove: () => void };
  let store: MemoryStore;
  let fleet: ScriptedFleet;
  let controller: Controller | undefined;

  beforeEach(async () => {
    dir = makeTempDir('workerctl-loop-');
    writeFileSync(join(dir.path, 'a.yaml'), 'v1');
    writeFileSync(join(dir.path, 'b.yaml'), 'v1');
    store = new MemoryStore();
    await store.open();
    fleet = new ScriptedFleet(store);
  });
  afterEach(async () => {
    await controller?.stop(500);
    controller = undefined;
    dir.remove();
  });

  function makeController(extra: Partial<ConstructorParameters<typeof Controller>[0]> = {}): Controller {
    controller = new Controller({
      manifestPaths: [dir.path],
      load: fakeLoad,
      reconciler: fleet,
      store,
      settings: makeSettings(),
      logger: silentLogger(),
      workers: 4,
      debounce: { quietMs: 20, maxWaitMs: 60 },
      resyncIntervalMs: 0,
      backoff: { baseMs: 20, maxMs: 100 },
      ...extra,
    });
    return controller;
  }

  it('loads, observes once and reconciles every worker on start', async () => {
    const c = makeController();
    await c.start();
    await c.waitForIdle();
    expect(fleet.applied).to.equal(1);
    expect(fleet.observed).to.equal(1);
    expect([...fleet.reconciles].sort()).to.deep.equal(['a', 'b']);
    const res = await c.waitForConvergence(1000);
    expect(res.converged).to.equal(true);
  });

  it('reloads the whole set on a file change and reconciles only what changed', async () => {
    const c = makeController();
    await c.start();
    await c.waitForIdle();
    fleet.reconciles = [];
    writeFileSync(join(dir.path, 'b.yaml'), 'v2');
    await until(() => fleet.reconciles.includes('b'));
    await c.waitForIdle();
    expect(fleet.reconciles).to.deep.equal(['b']);
    expect(fleet.applied).to.equal(2);
  });

  it("queues a reload's changed workers before the merge is on disk, and ends the pass once it is", async () => {
    const c = makeController();
    await c.start();
    await c.waitForIdle();
    fleet.reconciles = [];
    let saved!: () => void;
    fleet.saving = new Promise<void>((resolve) => (saved = resolve));
    writeFileSync(join(dir.path, 'a.yaml'), 'v2');
    await until(() => fleet.reconciles.includes('a'));
    let idle = false;
    void c.waitForIdle().then(() => (idle = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(idle, 'the load pass waits for the write').to.equal(false);
    saved();
    await until(() => idle);
    expect(fleet.reconciles).to.deep.equal(['a']);
  });

  it('a reload merges partially and hands listeners its own plan; lastPlan keeps the others; a resync merges in full', async () => {
    const c = makeController();
    fleet.failTerminal.add('b'); // b stays unconverged: its action stays in the fleet's plan
    await c.start();
    await c.waitForIdle();
    const loads: LoadedEvent[] = [];
    c.on('loaded', (e) => loads.push(e));
    writeFileSync(join(dir.path, 'a.yaml'), 'v2');
    await until(() => loads.length === 1);
    expect(loads[0]!.plan.actions.map((a) => a.worker)).to.deep.equal(['a']);
    expect(c.lastPlan!.actions.map((a) => a.worker)).to.deep.equal(['a', 'b']);
    await c.resync();
    expect(fleet.partials).to.deep.equal([false, true, false]);
  });

  it('keeps the last valid spec when a file turns invalid (invariant 1)', async () => {
    const c = makeController();
    await c.start();
    await c.waitForIdle();
    writeFileSync(join(dir.path, 'a.yaml'), 'v2 !broken');
    await until(() => fleet.applied === 2);
    await c.waitForIdle();
    expect(store.getWorker('a')?.specHash).to.equal('v1');
    expect(c.snapshot().lastLoad?.invalidFiles).to.deep.equal([join(dir.path, 'a.yaml')]);
  });

  it('changes nothing when the manifest directory vanishes (invariant 2)', async () => {
    const c = makeController();
    await c.start();
    await c.waitForIdle();
    const failures: string[] = [];
    c.on('load-failed', (e) => failures.push(e.error));
    rmSync(dir.path, { recursive: true, force: true });
    await c.reload();
    expect(failures).to.have.length(1);
    expect(fleet.applied).to.equal(1);
    expect(store.listWorkers().map((w) => w.name)).to.deep.equal(['a', 'b']);
  });

  it('turns a burst of edits into one load pass per burst', async () => {
    const c = makeController({ debounce: { quietMs: 50, maxWaitMs: 2000 } });
    await c.start();
    await c.waitForIdle();
    for (let i = 0; i < 50; i++) writeFileSync(join(dir.path, `n${i}.yaml`), 'v1');
    await until(() => store.listWorkers().length === 52);
    await c.waitForIdle();
    await new Promise((r) => setTimeout(r, 150));
    expect(fleet.applied).to.equal(2);
  });

  it('retries a failed reconcile with backoff, and does not retry a terminal error', async () => {
    fleet.failOnce.add('a');
    fleet.failTerminal.add('b');
    const c = makeController();
    await c.start();
    await until(() => fleet.reconciles.filter((n) => n === 'a').length === 2);
    await c.waitForIdle();
    await new Promise((r) => setTimeout(r, 150));
    expect(fleet.reconciles.filter((n) => n === 'b')).to.have.length(1);
    expect(c.snapshot().failures).to.equal(2);
  });

  it('a worker the lifecycle holds is not reconciled by the queue; a change meanwhile is, right after', async () => {
    const c = makeController();
    await c.start();
    await c.waitForIdle();
    fleet.reconciles = [];
    let release!: () => void;
    let heldReconcile: string | undefined;
    const holding = c.hold('a', async (held) => {
      heldReconcile = (await held.reconcile()).outcome.kind;
      await held.power('start', 'test');
      await new Promise<void>((r) => (release = r));
    });
    await until(() => release !== undefined);
    writeFileSync(join(dir.path, 'a.yaml'), 'v2');
    writeFileSync(join(dir.path, 'b.yaml'), 'v2');
    await until(() => fleet.reconciles.filter((n) => n === 'b').length === 1);
    // 'a' was reconciled once, by its holder; the queue waits.
    expect(fleet.reconciles.filter((n) => n === 'a')).to.have.length(1);
    expect(heldReconcile).to.equal('converged');
    expect(fleet.powered).to.deep.equal(['a:start']);
    release();
    await holding;
    await until(() => fleet.reconciles.filter((n) => n === 'a').length === 2);
    await c.waitForIdle();
    expect(fleet.converged.get('a')).to.equal('v2');
  });

  it('reports why each unconverged worker is pending when the wait times out', async () => {
    fleet.failTerminal.add('b');
    const c = makeController();
    await c.start();
    const res = await c.waitForConvergence(200, { pollMs: 50 });
    expect(res.converged).to.equal(false);
    expect(res.pending.map((p) => p.worker)).to.deep.equal(['b']);
    expect(res.pending[0].reason).to.match(/configure: spec changed/);
  });

  it('stops cleanly: lets an in-flight reconcile finish within the grace period, then closes the store', async () => {
    fleet.slow.set('a', 100);
    const c = makeController();
    await c.start();
    await until(() => c.snapshot().queue.processing.includes('a'));
    await c.stop(2000);
    expect(fleet.converged.has('a')).to.equal(true);
    expect(store.isOpen).to.equal(false);
  });

  it('aborts an in-flight reconcile that outlives the grace period', async () => {
    fleet.slow.set('a', 60_000);
    const c = makeController();
    await c.start();
    await until(() => c.snapshot().queue.processing.includes('a'));
    const t0 = Date.now();
    await c.stop(100);
    expect(Date.now() - t0).to.be.lessThan(2000);
    expect(fleet.converged.has('a')).to.equal(false);
  });

  it('resyncs periodically: one observation per pass and every worker queued', async () => {
    const c = makeController({ resyncIntervalMs: 100 });
    await c.start();
    await until(() => fleet.observed >= 3, 3000);
    await c.waitForIdle();
    expect(fleet.reconciles.filter((n) => n === 'a').length).to.be.greaterThan(1);
  });
});
