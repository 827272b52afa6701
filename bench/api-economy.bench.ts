/**
 * API economy (issue 14 part 1): how many Proxmox API requests the controller needs, measured side by
 * side in one run with task waits per task (`taskPoll.mode: 'task'`, GET …/tasks/{upid}/status at
 * 100 ms..1 s, as before) and per node (`'node'`, one GET /nodes/{node}/tasks?source=active per node
 * and interval, task-watch.ts), against `workerctl simulator` as a separate process (REALISTIC profile
 * of controller/simulator/latency.ts):
 *
 * (a) requests per deployed worker: three Eager workers on three nodes, the template on pve1 only
 *     (pve1's worker is a local clone, pve2's and pve3's a cross-node deploy path: clone to the
 *     shared storage, migrate), at time scale 1 (real time) and at BENCH_TIME_SCALE, to show the
 *     count does not depend on the scale;
 * (b) total requests to converge 100 and 1,000 Eager workers over 10 nodes (a template copy on every
 *     node, as bench/reconcile.bench.ts), wall time, and the peak requests per second of server time
 *     per node against the configured rate budget (client-side start times, per node in the path;
 *     cluster-wide calls under "(local)").
 *
 * (c) the same deploy of BENCH_ANSIBLE_WORKERS (10) VMs, one per node, by workerctl and by Ansible's
 *     community.general.proxmox_kvm (bench/ansible/fleet.yml, one fork per VM), at time scale 1,
 *     requests as the simulator counts them (a TLS simulator each), and wall time.
 *
 * Run: npx tsc -p . && node dist/bench/run.js api-economy
 * Env: BENCH_SIZES=100,1000  BENCH_TIME_SCALE=20  BENCH_REALTIME=1 (0: skip the time-scale-1 run of (a))
 *      BENCH_ASSUMPTIONS=off (the simulator's models no Proxmox source grounds off: `--no-assumptions`)
 *      BENCH_RATE=20 (the rate budget per node, requests per server second)
 *      BENCH_ANSIBLE=0 (skip (c)); BENCH_ANSIBLE_WORKERS=10
 */
import { spawnSync } from 'node:child_process';
import { get as httpsGet } from 'node:https';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../controller/clock.js';
import { openApp } from '../controller/compose/app.js';
import { silentLogger } from '../controller/log.js';
import { packageRoot } from '../controller/paths.js';
import type { HttpProxmoxClient } from '../controller/proxmox/http-client.js';
import { endpointTemplate, nodeOf } from '../controller/proxmox/node-budget.js';
import { DEFAULT_TASK_POLL } from '../controller/proxmox/options.js';
import { makeSettings } from '../controller/reconcile/settings.js';
import { defaultWorld } from '../controller/simulator/world/default-world.js';
import type { WorldConfig } from '../controller/simulator/world/types.js';
import { startSimProcess, templateOnEveryNode, workerDoc, type SimProcess } from './fleet-world.js';

const SIZES = (process.env.BENCH_SIZES ?? '100,1000')
  .split(',')
  .map(Number)
  .filter((n) => n > 0);
const TIME_SCALE = Number(process.env.BENCH_TIME_SCALE ?? 20);
const REALTIME = process.env.BENCH_REALTIME !== '0';
const ASSUMPTIONS = process.env.BENCH_ASSUMPTIONS !== 'off';
const RATE = Number(process.env.BENCH_RATE ?? 20);
const MODES = ['task', 'node'] as const;
const NODES = 10;
/** (c): workers deployed by workerctl and by Ansible at time scale 1, one per node. */
const ANSIBLE_WORKERS = Number(process.env.BENCH_ANSIBLE_WORKERS ?? 10);
type Mode = (typeof MODES)[number];

type Sim = SimProcess;

/** The simulator as its own process, REALISTIC profile. */
function startSim(dir: string, world: WorldConfig, timeScale: number, tls = false): Promise<Sim> {
  return startSimProcess(dir, { world, latency: 'realistic', timeScale, assumptions: ASSUMPTIONS, tls });
}

interface Run {
  requests: number;
  byEndpoint: Map<string, number>;
  wallMs: number;
  converged: boolean;
  /** Most requests started per node within one server second. */
  peakPerNode: Map<string, number>;
  budgetWaits: { count: number; ms: number };
}

/** Converges `workers` (name -> host) against `sim` with task waits in `mode`; counts every request. */
async function converge(
  dir: string,
  sim: Sim,
  workers: Array<[string, string]>,
  mode: Mode,
  timeScale: number,
): Promise<Run> {
  const manifests = mkdtempSync(join(dir, `m-${mode}-`));
  writeFileSync(
    join(manifests, 'fleet.yaml'),
    workers.map(([n, h]) => workerDoc(n, h, '  deploy: Eager')).join('\n---\n') + '\n',
  );
  const byEndpoint = new Map<string, number>();
  const starts = new Map<string, number[]>();
  let requests = 0;
  let t0 = Date.now();
  const settings = makeSettings({ resyncIntervalMs: 0 });
  const app = await openApp({
    endpoint: sim,
    clientOptions: {
      timeScale,
      budget: { ratePerNode: RATE },
      taskPoll: {
        mode,
        // Per-task polling as before, on the simulator's clock: 100 ms..1 s of server time.
        initialMs: Math.max(1, DEFAULT_TASK_POLL.initialMs / timeScale),
        maxMs: Math.max(2, DEFAULT_TASK_POLL.maxMs / timeScale),
      },
      maxSockets: 32,
      onCall: (info) => {
        requests++;
        if (process.env.BENCH_TRACE)
          process.stderr.write(`${Date.now() - t0} ${info.operation} ${info.method} ${info.path}\n`);
        const key = `${info.method} ${endpointTemplate(info.path)}`;
        byEndpoint.set(key, (byEndpoint.get(key) ?? 0) + 1);
        const node = nodeOf(info.path);
        const list = starts.get(node) ?? [];
        list.push(performance.now() - info.durationMs);
        starts.set(node, list);
      },
    },
    settings,
    logger: silentLogger(),
    clock: systemClock,
    stateDir: join(dir, `s-${mode}-${Date.now()}`),
    controller: { manifestPaths: [manifests], resyncIntervalMs: 0 },
  });
  t0 = Date.now();
  await app.start();
  const res = await app.controller!.waitForConvergence(60 * 60_000, { pollMs: 50 });
  const wallMs = Date.now() - t0;
  await app.stop(5000);
  const budget = (app.client as HttpProxmoxClient).budget.usage();
  await app.close();
  const peakPerNode = new Map<string, number>();
  const windowMs = 1000 / timeScale;
  for (const [node, list] of starts) {
    list.sort((a, b) => a - b);
    let peak = 0;
    for (let i = 0, j = 0; i < list.length; i++) {
      while (list[i]! - list[j]! >= windowMs) j++;
      peak = Math.max(peak, i - j + 1);
    }
    peakPerNode.set(node, peak);
  }
  const budgetWaits = { count: 0, ms: 0 };
  for (const u of Object.values(budget)) {
    budgetWaits.count += u.rateWaits.count + u.concurrencyWaits.count;
    budgetWaits.ms += u.rateWaits.ms + u.concurrencyWaits.ms;
  }
  return { requests, byEndpoint, wallMs, converged: res.converged, peakPerNode, budgetWaits };
}

function top(m: Map<string, number>, n: number, per = 1): string {
  return [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${k} ${(v / per).toFixed(1)}`)
    .join('; ');
}

/** (a): three workers on three nodes, one local clone and two cross-node deploys. */
async function perWorker(dir: string, timeScale: number): Promise<void> {
  const workers: Array<[string, string]> = [
    ['w-local', 'pve1'],
    ['w-cross2', 'pve2'],
    ['w-cross3', 'pve3'],
  ];
  for (const mode of MODES) {
    const sim = await startSim(dir, defaultWorld(), timeScale);
    try {
      const r = await converge(dir, sim, workers, mode, timeScale);
      console.log(
        `(a) time scale ${timeScale}, task waits per ${mode}: 3 workers (1 local clone, 2 cross-node) ` +
          `${r.converged ? 'converged' : 'NOT converged'} in ${(r.wallMs / 1000).toFixed(1)} s real ` +
          `= ${((r.wallMs * timeScale) / 1000).toFixed(0)} s simulated; ${r.requests} requests = ` +
          `${(r.requests / 3).toFixed(1)} per worker (target <= 15)`,
      );
      console.log(`    per worker by endpoint: ${top(r.byEndpoint, 30, 3)}`);
    } finally {
      await sim.stop();
    }
  }
}

/** Ten nodes, a copy of the template on every node (on its local-lvm). */
/** (b): n workers over 10 nodes, a template copy on every node. */
async function fleet(dir: string, n: number): Promise<void> {
  const world = templateOnEveryNode(NODES);
  const workers: Array<[string, string]> = Array.from({ length: n }, (_, i) => [
    `w-${String(i).padStart(5, '0')}`,
    `pve${(i % NODES) + 1}`,
  ]);
  for (const mode of MODES) {
    const sim = await startSim(dir, world, TIME_SCALE);
    try {
      const r = await converge(dir, sim, workers, mode, TIME_SCALE);
      const peaks = [...r.peakPerNode].sort((a, b) => b[1] - a[1]);
      const nodePeak = peaks.filter(([k]) => k !== '(local)')[0];
      console.log(
        `(b) ${n} workers, 10 nodes, task waits per ${mode}: ${r.converged ? 'converged' : 'NOT converged'} in ` +
          `${(r.wallMs / 1000).toFixed(1)} s real (time scale ${TIME_SCALE}); ${r.requests} requests = ` +
          `${(r.requests / n).toFixed(1)} per worker; peak per node ${nodePeak?.[1]} requests in one server second ` +
          `(${nodePeak?.[0]}), cluster-wide calls ${r.peakPerNode.get('(local)') ?? 0}; budget ${RATE}/s per node; ` +
          `${r.budgetWaits.count} budget waits (${(r.budgetWaits.ms / 1000).toFixed(1)} s real in all)`,
      );
      console.log(`    per worker by endpoint: ${top(r.byEndpoint, 8, n)}`);
    } finally {
      await sim.stop();
    }
  }
}

/** Requests the simulator answered so far (its own count: GET /_sim/stats). */
function simRequests(sim: Sim): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsGet(`${sim.url}/_sim/stats`, { rejectUnauthorized: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve((JSON.parse(body) as { total: number }).total));
    });
    req.on('error', reject);
  });
}

/**
 * (c): the same deploy (a full clone onto each node's local-lvm from its template copy, then the
 * config) of ANSIBLE_WORKERS VMs, one per node, by workerctl and by Ansible's proxmox_kvm with one
 * fork per VM, at time scale 1; requests counted by the simulator.
 */
async function ansible(dir: string): Promise<void> {
  if (spawnSync('ansible-playbook', ['--version']).status !== 0) {
    console.log('(c) skipped: ansible-playbook not found (`make real-clients` installs it)');
    return;
  }
  const world = templateOnEveryNode(NODES);
  const n = ANSIBLE_WORKERS;
  const workers: Array<[string, string]> = Array.from({ length: n }, (_, i) => [
    `w-${String(i).padStart(5, '0')}`,
    `pve${(i % NODES) + 1}`,
  ]);
  {
    const sim = await startSim(dir, world, 1, true);
    try {
      const r = await converge(dir, sim, workers, 'node', 1);
      const total = await simRequests(sim);
      console.log(
        `(c) workerctl, ${n} workers on ${Math.min(n, NODES)} nodes, time scale 1: ${r.converged ? 'converged' : 'NOT converged'} in ` +
          `${(r.wallMs / 1000).toFixed(1)} s; ${total} requests (simulator's count) = ${(total / n).toFixed(1)} per worker`,
      );
    } finally {
      await sim.stop();
    }
  }
  const sim = await startSim(dir, world, 1, true);
  try {
    const [user, secret] = sim.token.split('=') as [string, string];
    const [apiUser, tokenId] = user.split('!') as [string, string];
    const hosts: Record<string, Record<string, unknown>> = {};
    workers.forEach(([name, node], i) => {
      const tpl = world.templates!.find((t) => t.node === node)!;
      hosts[name] = { pve_node: node, template_vmid: tpl.vmid, new_vmid: 5000 + i };
    });
    const inventory = join(dir, 'inventory.json');
    writeFileSync(inventory, JSON.stringify({ workers: { hosts } }));
    const t0 = Date.now();
    const res = spawnSync(
      'ansible-playbook',
      [
        '-i',
        inventory,
        '-f',
        String(n),
        join(packageRoot, 'bench', 'ansible', 'fleet.yml'),
        '-e',
        `sim_host=${new URL(sim.url).host} sim_user=${apiUser} sim_token_id=${tokenId} sim_token_secret=${secret}`,
        '-e',
        'ansible_python_interpreter=/usr/bin/python3',
      ],
      {
        encoding: 'utf8',
        env: {
          ...process.env,
          ANSIBLE_NOCOLOR: '1',
          ANSIBLE_LOCALHOST_WARNING: 'false',
          ANSIBLE_HOST_KEY_CHECKING: 'false',
        },
      },
    );
    const wallMs = Date.now() - t0;
    const total = await simRequests(sim);
    const ok = res.status === 0;
    if (!ok) process.stderr.write(res.stdout.slice(-3000) + res.stderr.slice(-2000));
    console.log(
      `(c) Ansible proxmox_kvm, ${n} VMs, one fork each, time scale 1: ${ok ? 'done' : `FAILED (exit ${res.status})`} in ` +
        `${(wallMs / 1000).toFixed(1)} s; ${total} requests (simulator's count) = ${(total / n).toFixed(1)} per VM`,
    );
  } finally {
    await sim.stop();
  }
}

const dir = mkdtempSync(join(tmpdir(), 'workerctl-bench-api-'));
mkdirSync(dir, { recursive: true });
try {
  console.log(
    `simulator: separate process, REALISTIC profile, assumptions ${ASSUMPTIONS ? 'on' : 'off'}; ` +
      `rate budget ${RATE} requests per node and server second, 3 calls in flight per node`,
  );
  if (REALTIME) await perWorker(dir, 1);
  await perWorker(dir, TIME_SCALE);
  for (const n of SIZES) await fleet(dir, n);
  if (process.env.BENCH_ANSIBLE !== '0') await ansible(dir);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
