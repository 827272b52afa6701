/**
 * The chaos and soak suite (`make chaos`; outside `make test`): the real `workerctl run` binary
 * against the simulator, through a proxy that loses answers, for CHAOS_MINUTES (default 2) in
 * rounds of a few seconds. Each round draws, from the seed, a mix of: simulator faults (errors,
 * 596s, dropped connections, lock timeouts, slow and failing tasks), lost responses, kill -9 of the
 * controller (sometimes two starts racing for the lock afterwards), out-of-band VM edits and
 * deletes (also of a VM between the end of its clone and its finish), hostile manifest edits
 * (dangling and looping symlinks, a link to /usr, half-writes, empty and invalid files, each undone
 * within the round) and API load (reads, malformed requests, sessions). After every round it checks
 * the invariants:
 *
 *   duplicate VM       no two VMs carry one worker's name
 *   foreign VM touched the VMs that are not workerctl's keep their config and power state
 *   declared deleted   no complete VM of a declared worker disappears unless the round deleted it
 *   record lost        every declared worker stays in the database, never marked for removal
 *   controller crash   the controller exits only when killed (or refused the lock)
 *   two writers        after starts racing for the lock, one controller runs
 *
 * and at the end that the fleet converges (`workerctl plan` exits 0) once the chaos stops. It prints
 * the figures and, per violation, the seed and round to reproduce it: CHAOS_SEED=<seed> make chaos.
 *
 * The fleet is like examples/: Eager workers on the template's node on local-lvm and on the other
 * nodes on the shared pool (a cross-node clone to local storage is refused by Proxmox), OnDemand
 * ones for sessions. Nothing here trusts the API listing: checks read the simulator's own state.
 * CHAOS_BIN=path/to/main.js runs another build under the same chaos (e.g. main before a change).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../controller/paths.js';
import { startSimulator, type RunningSimulator } from '../../controller/simulator/index.js';
import { DB_FILE_NAME } from '../../controller/store/lowdb-store.js';
import { startLossyProxy, type LossyProxy } from './proxy.js';

/** The binary under test: this build, or CHAOS_BIN (another build's main.js, to compare; flags it lacks are left out). */
/** The controllers of the run, killed should the driver itself fail. */
let running: { kill(): Promise<void> } | undefined;

const MAIN = process.env.CHAOS_BIN ?? join(packageRoot, 'dist', 'controller', 'main.js');
const minutes = Number(process.env.CHAOS_MINUTES ?? 2);
const seed = Number(process.env.CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
const keep = Boolean(process.env.CHAOS_KEEP);

/** mulberry32: a small seeded generator, so a run repeats for a seed. */
function rngFrom(s: number): () => number {
  let a = s >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = rngFrom(seed);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
const between = (lo: number, hi: number) => lo + random() * (hi - lo);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------- the fleet ----------

interface Declared {
  name: string;
  host: string;
  storage: string;
  eager: boolean;
}
const FLEET: Record<string, Declared[]> = {
  'pve1.yaml': [
    { name: 'pve1-worker-01', host: 'pve1', storage: 'local-lvm', eager: true },
    { name: 'pve1-worker-02', host: 'pve1', storage: 'local-lvm', eager: false },
  ],
  'pve2.yaml': [
    { name: 'pve2-worker-01', host: 'pve2', storage: 'cephpool', eager: true },
    { name: 'pve2-worker-02', host: 'pve2', storage: 'cephpool', eager: false },
  ],
  'pve3.yaml': [{ name: 'pve3-worker-01', host: 'pve3', storage: 'cephpool', eager: true }],
  'extra.yaml': [
    { name: 'extra-worker-01', host: 'pve1', storage: 'local-lvm', eager: true },
    { name: 'extra-worker-02', host: 'pve2', storage: 'cephpool', eager: true },
  ],
};
const DECLARED = Object.values(FLEET).flat();
const NAMES = new Set(DECLARED.map((d) => d.name));

function fileText(file: string): string {
  return FLEET[file]!.map((d) =>
    [
      'apiVersion: workerctl.dev/v1',
      'kind: Worker',
      'metadata:',
      `  name: ${d.name}`,
      'spec:',
      `  host: ${d.host}`,
      '  template: worker-template',
      `  storage: ${d.storage}`,
      `  deploy: ${d.eager ? 'Eager' : 'OnDemand'}`,
      '  cpus: 4',
      '  maxConcurrentTasks: 2',
      '  networks: [{bridge: vmbr0, ipv4: dhcp}]',
      '',
    ].join('\n'),
  ).join('---\n');
}

// ---------- figures and violations ----------

const figures = {
  rounds: 0,
  faults: 0,
  lostResponses: 0,
  kills: 0,
  racingStarts: 0,
  oobEdits: 0,
  oobDeletes: 0,
  midDeployDeletes: 0,
  hostileEdits: 0,
  apiRequests: 0,
  apiErrors: 0,
  sessions: 0,
};
/** Session start answers by status code (201 started; 503 no usable worker; 000 no answer). */
const sessionAnswers: Record<string, number> = {};
interface Violation {
  round: number;
  kind: string;
  detail: string;
}
const violations: Violation[] = [];
let round = 0;
function violation(kind: string, detail: string): void {
  violations.push({ round, kind, detail });
  process.stdout.write(`  VIOLATION round ${round} (seed ${seed}): ${kind}: ${detail}\n`);
}

// ---------- the controller process ----------

interface Ctl {
  child: ChildProcess;
  killedByUs: boolean;
  exit?: number | null;
  log: string;
}

class Controllers {
  running: Ctl[] = [];
  starts = 0;
  constructor(
    private readonly args: string[],
    private readonly logDir: string,
  ) {}

  start(): Ctl {
    const log = join(this.logDir, `controller-${++this.starts}.log`);
    const out = createWriteStream(log);
    const child = spawn(process.execPath, [MAIN, ...this.args], {
      env: { ...process.env, WORKERCTL_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.pipe(out);
    child.stderr!.pipe(out);
    const ctl: Ctl = { child, killedByUs: false, log };
    child.on('exit', (code) => {
      ctl.exit = code;
      this.running = this.running.filter((c) => c !== ctl);
      if (ctl.killedByUs) return;
      const text = readFileSync(log, 'utf8');
      if (/is locked by pid/.test(text)) return; // a racing start refused: as it should be
      violation('controller crash', `exit ${code}; log ${log}: ${text.split('\n').slice(-4).join(' | ')}`);
    });
    this.running.push(ctl);
    return ctl;
  }

  async kill(): Promise<void> {
    for (const c of [...this.running]) {
      c.killedByUs = true;
      c.child.kill('SIGKILL');
      await new Promise<void>((r) => (c.exit !== undefined ? r() : c.child.once('exit', () => r())));
    }
  }

  async stop(): Promise<void> {
    for (const c of [...this.running]) {
      c.killedByUs = true;
      c.child.kill('SIGTERM');
      await Promise.race([new Promise<void>((r) => c.child.once('exit', () => r())), sleep(20_000)]);
      if (c.exit === undefined) c.child.kill('SIGKILL');
    }
  }
}

// ---------- main ----------

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'workerctl-chaos-'));
  const manifests = join(dir, 'workers');
  const state = join(dir, 'state');
  mkdirSync(manifests);
  mkdirSync(state);
  process.stdout.write(`chaos: seed ${seed}, ${minutes} min, in ${dir}\n`);

  const sim: RunningSimulator = await startSimulator({ latency: 'realistic', timeScale: 20, seed });
  const proxy: LossyProxy = await startLossyProxy(sim.url, random);
  const tokenFile = join(dir, 'pve-token');
  writeFileSync(tokenFile, sim.token + '\n', { mode: 0o600 });
  const apiToken = 'chaos-api-token-0123456789';
  writeFileSync(join(dir, 'api-token'), apiToken + '\n', { mode: 0o600 });
  const port = await freePort();
  const api = `http://127.0.0.1:${port}`;
  for (const file of Object.keys(FLEET)) writeFileSync(join(manifests, file), fileText(file));

  // Foreign VMs: one plain, one that even carries our tag; neither is in our records.
  sim.sim.createForeignVm({ vmid: 500, node: 'pve1', name: 'db-prod-01', running: true });
  sim.sim.createForeignVm({ vmid: 501, node: 'pve2', name: 'legacy-worker', tags: 'workerctl' });
  const foreign = new Map([500, 501].map((vmid) => [vmid, JSON.stringify(foreignView(sim, vmid))]));

  const hostAddresses = [...sim.sim.world.nodes].flatMap(([n, node]) => [
    '--host-address',
    `${n}=${node.ip}`,
  ]);
  const ctls = new Controllers(
    [
      'run',
      '-f',
      manifests,
      '--server',
      proxy.url,
      '--token-file',
      tokenFile,
      '--state-dir',
      state,
      '--listen',
      `127.0.0.1:${port}`,
      '--api-token-file',
      join(dir, 'api-token'),
      '--no-view',
      ...(process.env.CHAOS_BIN ? [] : ['--removal-delay', '3s']),
      '--resync',
      '20s',
      ...hostAddresses,
    ],
    dir,
  );
  ctls.start();
  running = ctls;

  const oobDeleted = new Set<number>();
  /** Files (or the /usr link) a hostile edit is working on. */
  const editing = new Set<string>();
  /** Declared workers seen in the database: from then on they must stay. */
  const recorded = new Set<string>();
  let complete = new Map<number, string>();
  const deadline = Date.now() + minutes * 60_000;
  while (Date.now() < deadline) {
    round = ++figures.rounds;
    const roundMs = between(4000, 10_000);
    const actions: Promise<void>[] = [];
    const draws = 1 + Math.floor(random() * 3);
    for (let i = 0; i < draws; i++) {
      const kind = pick([
        'fault',
        'loss',
        'kill',
        'edit',
        'delete',
        'delete-mid-deploy',
        'manifest',
        'manifest',
        'api',
      ] as const);
      actions.push(act(kind, roundMs));
    }
    await Promise.all(actions);
    if (ctls.running.length === 0) ctls.start();
    complete = check(complete);
  }

  // The chaos stops: no faults, no loss, the manifests as written; the fleet must converge.
  round++;
  sim.sim.clearFaults();
  proxy.lossRate = 0;
  restoreManifests();
  if (ctls.running.length === 0) ctls.start();
  const converged = await waitConverged();
  complete = check(complete, true);
  for (const d of DECLARED.filter((x) => x.eager)) {
    const n = workerVms(sim).filter((v) => v.name === d.name).length;
    if (n !== 1) violation('not converged', `${d.name} has ${n} VMs at the end`);
  }
  if (!converged.ok) violation('not converged', converged.detail);
  await ctls.stop();
  await proxy.close();
  await sim.close();

  figures.lostResponses = proxy.lost;
  process.stdout.write(
    `chaos: seed ${seed}: ${figures.rounds} rounds in ${minutes} min; ${figures.faults} faults, ` +
      `${figures.lostResponses} lost responses, ${figures.kills} kills (${figures.racingStarts} with racing starts), ` +
      `${figures.oobEdits} out-of-band edits, ${figures.oobDeletes} out-of-band deletes ` +
      `(${figures.midDeployDeletes} mid-deploy), ` +
      `${figures.hostileEdits} hostile manifest edits, ${figures.apiRequests} API requests ` +
      `(${figures.apiErrors} failed), ${figures.sessions} sessions (answers ${JSON.stringify(sessionAnswers)}); ` +
      `${violations.length} violations\n`,
  );
  for (const v of violations)
    process.stdout.write(
      `  round ${v.round}: ${v.kind}: ${v.detail} (reproduce: CHAOS_SEED=${seed} make chaos)\n`,
    );
  if (!keep && violations.length === 0) rmSync(dir, { recursive: true, force: true });
  else process.stdout.write(`logs and state kept in ${dir}\n`);
  return violations.length === 0 ? 0 : 1;

  // ---------- actions ----------

  async function act(kind: string, roundMs: number): Promise<void> {
    switch (kind) {
      case 'fault': {
        const spec = pick([
          { kind: 'error', method: 'POST', rate: 0.2 },
          { kind: 'error', method: 'PUT', rate: 0.2 },
          { kind: 'status596', rate: 0.1 },
          { kind: 'drop', rate: 0.1 },
          { kind: 'lockTimeout', rate: 0.3 },
          { kind: 'slowTask', factor: 5 },
          { kind: 'failTask', taskType: 'qmclone', rate: 0.3 },
          { kind: 'failTask', taskType: 'qmdestroy', rate: 0.5 },
        ] as const);
        const id = sim.sim.setFault({ ...spec });
        figures.faults++;
        await sleep(roundMs);
        sim.sim.removeFault(id);
        return;
      }
      case 'loss':
        proxy.lossRate = between(0.1, 0.4);
        await sleep(roundMs);
        proxy.lossRate = 0;
        return;
      case 'kill': {
        await sleep(between(0, roundMs * 0.7));
        await ctls.kill();
        figures.kills++;
        await sleep(between(100, 1500));
        // Now and then two start together: exactly one may take the lock.
        if (random() < 0.4) {
          figures.racingStarts++;
          const a = ctls.start();
          const b = ctls.start();
          // The loser exits once it meets the lock; a loaded machine may take seconds to get there.
          const until = Date.now() + 30_000;
          while (a.exit === undefined && b.exit === undefined && Date.now() < until) await sleep(250);
          if (a.exit === undefined && b.exit === undefined)
            violation('two writers', `controllers ${a.child.pid} and ${b.child.pid} both run after 30 s`);
        } else ctls.start();
        return;
      }
      case 'edit': {
        const vm = pick(ourVms());
        if (!vm) return;
        sim.sim.editVmConfig(vm.vmid, { cores: pick([2, 3, 6, 8]), memory: pick([2048, 4096, 8192]) });
        figures.oobEdits++;
        return;
      }
      case 'delete': {
        const vm = pick(ourVms());
        if (!vm) return;
        oobDeleted.add(vm.vmid);
        sim.sim.removeVm(vm.vmid);
        figures.oobDeletes++;
        return;
      }
      case 'delete-mid-deploy': {
        // A VM whose clone has ended but that is not finished yet (no lock, no owner tag): deleted
        // outside workerctl in that window (issue 11 point 7), whenever one shows up in this round.
        const until = Date.now() + roundMs;
        while (Date.now() < until) {
          const vm = pick(workerVms(sim).filter((v) => !v.lock && !(v.tags ?? '').includes('workerctl')));
          if (vm) {
            oobDeleted.add(vm.vmid);
            sim.sim.removeVm(vm.vmid);
            figures.midDeployDeletes++;
            return;
          }
          await sleep(20);
        }
        return;
      }
      case 'manifest':
        figures.hostileEdits++;
        return hostileEdit(roundMs);
      case 'api':
        return apiLoad(roundMs);
    }
  }

  /** Complete VMs of declared workers (tagged, named, unlocked). */
  function ourVms() {
    return workerVms(sim).filter((v) => !v.lock && (v.tags ?? '').includes('workerctl'));
  }

  async function hostileEdit(roundMs: number): Promise<void> {
    const file = pick(Object.keys(FLEET));
    const how = pick(['dangling', 'loop', 'usr-link', 'half-write', 'empty', 'invalid'] as const);
    const key = how === 'usr-link' ? 'usr' : file;
    if (editing.has(key)) return; // one edit of a file at a time
    editing.add(key);
    try {
      await editOnce(file, how, roundMs);
    } finally {
      editing.delete(key);
    }
  }

  async function editOnce(
    file: string,
    how: 'dangling' | 'loop' | 'usr-link' | 'half-write' | 'empty' | 'invalid',
    roundMs: number,
  ): Promise<void> {
    const path = join(manifests, file);
    const text = fileText(file);
    const hold = between(300, Math.min(roundMs, 4000));
    switch (how) {
      case 'dangling':
        rmSync(path, { force: true });
        symlinkSync(join(manifests, 'nowhere.yaml'), path);
        break;
      case 'loop':
        rmSync(path, { force: true });
        symlinkSync(path, path);
        break;
      case 'usr-link':
        rmSync(join(manifests, 'usr'), { force: true });
        symlinkSync('/usr', join(manifests, 'usr'));
        break;
      case 'half-write':
        truncateSync(path, 0);
        await sleep(between(60, 300));
        writeFileSync(path, text.slice(0, Math.floor(text.length / 2)));
        await sleep(between(60, 300));
        writeFileSync(path, text);
        return;
      case 'empty':
        rmSync(path, { force: true });
        writeFileSync(path, '');
        break;
      case 'invalid':
        rmSync(path, { force: true });
        writeFileSync(path, text.replace('spec:', 'spec: [').slice(0, text.length - 10));
        break;
    }
    await sleep(hold);
    if (how === 'usr-link') rmSync(join(manifests, 'usr'), { force: true });
    else {
      rmSync(path, { force: true });
      writeFileSync(path, text);
    }
  }

  function restoreManifests(): void {
    rmSync(join(manifests, 'usr'), { force: true });
    for (const file of Object.keys(FLEET)) {
      rmSync(join(manifests, file), { force: true });
      writeFileSync(join(manifests, file), fileText(file));
    }
  }

  async function apiLoad(roundMs: number): Promise<void> {
    const paths = ['/healthz', '/readyz', '/metrics', '/v1/workers', '/v1/sessions', '/v1/workers/__proto__'];
    for (const d of DECLARED) paths.push(`/v1/workers/${d.name}`);
    const reads = Array.from({ length: 100 + Math.floor(random() * 200) }, () => pick(paths));
    const get = async (path: string) => {
      figures.apiRequests++;
      try {
        const res = await fetch(api + path, { signal: AbortSignal.timeout(5000) });
        await res.arrayBuffer();
        if (res.status >= 500 && res.status !== 503) figures.apiErrors++;
      } catch {
        figures.apiErrors++; // refused while the controller is down
      }
    };
    const session = async () => {
      figures.apiRequests++;
      try {
        const res = await fetch(api + '/v1/sessions', {
          method: 'POST',
          headers: { authorization: `Bearer ${apiToken}` },
          body: JSON.stringify({ host: pick(['pve1', 'pve2']), tasks: 1, lease: '30s', wait: '3s' }),
          signal: AbortSignal.timeout(60_000),
        });
        sessionAnswers[res.status] = (sessionAnswers[res.status] ?? 0) + 1;
        const body = (await res.json()) as { session?: { id: string } };
        if (res.status === 201 && body.session) {
          figures.sessions++;
          await sleep(between(500, roundMs));
          await fetch(api + `/v1/sessions/${body.session.id}`, {
            method: 'DELETE',
            headers: { authorization: `Bearer ${apiToken}` },
            signal: AbortSignal.timeout(10_000),
          }).catch(() => undefined);
        }
      } catch {
        sessionAnswers['000'] = (sessionAnswers['000'] ?? 0) + 1;
        figures.apiErrors++;
      }
    };
    const malformed = () =>
      new Promise<void>((resolve) => {
        figures.apiRequests++;
        const sock = connect(port, '127.0.0.1', () =>
          sock.end('GET http://[::1/ HTTP/1.1\r\nHost: x\r\n\r\n'),
        );
        sock.on('data', () => sock.destroy());
        sock.on('error', () => resolve());
        sock.on('close', () => resolve());
        setTimeout(() => sock.destroy(), 2000);
      });
    const work: Promise<void>[] = [];
    for (let i = 0; i < reads.length; i += 20) work.push(...reads.slice(i, i + 20).map(get));
    work.push(malformed(), malformed());
    work.push(session());
    await Promise.all(work);
  }

  // ---------- checks ----------

  /** Checks the invariants; returns the complete worker VMs now, for the next check. */
  function check(before: Map<number, string>, final = false): Map<number, string> {
    const vms = workerVms(sim);
    const byName = new Map<string, number[]>();
    for (const v of vms) byName.set(v.name!, [...(byName.get(v.name!) ?? []), v.vmid]);
    for (const [name, ids] of byName)
      if (ids.length > 1) violation('duplicate VM', `${name}: vms ${ids.join(', ')}`);
    for (const [vmid, view] of foreign) {
      const now = foreignView(sim, vmid);
      if (JSON.stringify(now) !== view) violation('foreign VM touched', `vm ${vmid}: ${JSON.stringify(now)}`);
    }
    const now = new Map<number, string>();
    for (const v of vms) if (!v.lock && (v.tags ?? '').includes('workerctl')) now.set(v.vmid, v.name!);
    for (const [vmid, name] of before) {
      if (!sim.sim.getVm(vmid) && !oobDeleted.has(vmid))
        violation('declared deleted', `vm ${vmid} of ${name} was deleted although ${name} is declared`);
    }
    // Proxmox hands out freed vmids again: only this round's out-of-band deletes excuse a missing VM.
    oobDeleted.clear();
    const db = join(state, DB_FILE_NAME);
    if (existsSync(db)) {
      try {
        const data = JSON.parse(readFileSync(db, 'utf8')) as {
          workers: Record<string, { desired: { removeRequestedAt?: string } }>;
        };
        for (const name of NAMES) {
          const rec = data.workers[name];
          // A worker whose file was hostile from the very start was never recorded: nothing to lose yet.
          if (!rec) {
            if (recorded.has(name) || final) violation('record lost', `${name} is not in the database`);
          } else if (rec.desired.removeRequestedAt) violation('record lost', `${name} is marked for removal`);
          else recorded.add(name);
        }
      } catch (err) {
        violation('database unreadable', (err as Error).message);
      }
    }
    return now;
  }

  async function waitConverged(): Promise<{ ok: boolean; detail: string }> {
    const until = Date.now() + 5 * 60_000;
    let last = '';
    while (Date.now() < until) {
      await sleep(5000);
      const res = await runPlan();
      if (res.code === 0) return { ok: true, detail: '' };
      last = res.out.split('\n').slice(0, 12).join(' | ');
    }
    return { ok: false, detail: `plan still not empty after 5 min: ${last}` };
  }

  function runPlan(): Promise<{ code: number | null; out: string }> {
    return new Promise((resolve) => {
      const child = spawn(
        process.execPath,
        [MAIN, 'plan', '-f', manifests, '--server', sim.url, '--token-file', tokenFile, '--state-dir', state],
        { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WORKERCTL_LOG_LEVEL: 'error' } },
      );
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.on('exit', (code) => resolve({ code, out }));
    });
  }
}

/** VMs (not templates) named after a declared worker. */
function workerVms(sim: RunningSimulator) {
  return sim.sim.listVms().filter((v) => !v.template && v.name !== undefined && NAMES.has(v.name));
}

function foreignView(sim: RunningSimulator, vmid: number) {
  const v = sim.sim.getVm(vmid);
  return v ? { name: v.name, status: v.status, tags: v.tags, config: v.config } : 'gone';
}

main().then(
  (code) => process.exit(code),
  async (err: unknown) => {
    process.stderr.write(`chaos: ${(err as Error).stack ?? String(err)}\n`);
    await running?.kill();
    process.exit(2);
  },
);
