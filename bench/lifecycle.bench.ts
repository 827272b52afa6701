/**
 * Lifecycle benchmark, against the simulator over HTTP with the whole controller (reconcile core,
 * lifecycle, API) as `workerctl run` wires it.
 *
 * 1. Session start latency (POST /v1/sessions until the answer: worker Working) for a deployed
 *    worker (powered off; also its very first boot) and for an OnDemand one (no VM yet), under the realistic profile
 *    of the simulator's realistic profile (controller/simulator/latency.ts) pinned to each range's middle so that the sum of the simulated steps is known,
 *    at a time scale of TIME_SCALE (our own poll intervals scaled alike, so ratios hold). Target:
 *    measured / sum of steps <= 1.2.
 * 2. 200 concurrent session requests over 20 workers (4 task slots each, fast profile): every request
 *    is served (each session is ended soon after it starts, so waiting requests get a slot), and no
 *    worker is ever booked beyond maxConcurrentTasks (sampled on every booking and every 2 ms).
 */
import { performance } from 'node:perf_hooks';
import { usedSlots } from '../controller/lifecycle/selection.js';
import { LifecycleEnv } from '../test/helpers/lifecycle-env.js';
import { onDemandYaml as workerYaml } from '../test/helpers/manifests.js';

const TIME_SCALE = 50;
const SAMPLES = 4;
const TARGET_RATIO = 1.2;

/** Each realistic range pinned to its middle (simulated ms). */
const PINNED = {
  smallGet: 25,
  configPut: 175,
  linkedClone: 3000,
  resize: 1250,
  start: 2000,
  agentBoot: 27500,
  agentBootFirst: 45000,
  agentCall: 25,
  updateRun: 70000,
  ping: 1000,
  exec: 275,
  shutdown: 12500,
  stop: 750,
};
/** Template disk in use (default world): 10 GiB, full clone at 0.3 GiB/s per clone plus 2 s. */
const FULL_CLONE_MS = 2000 + (10 / 0.3) * 1000;

const STEPS_DEPLOYED: [string, number][] = [
  ['start task', PINNED.start],
  ['guest agent up', PINNED.agentBoot],
  ['ping proxmox host', PINNED.ping],
  ['ping backup server', PINNED.ping],
  ['update run', PINNED.updateRun],
];
const STEPS_FIRST_BOOT: [string, number][] = STEPS_DEPLOYED.map(([n, ms]) =>
  n === 'guest agent up' ? ['guest agent up (first boot)', PINNED.agentBootFirst] : [n, ms],
);
const STEPS_ONDEMAND: [string, number][] = [
  ['full clone (10 GiB)', FULL_CLONE_MS],
  ['configure', PINNED.configPut],
  ['resize', PINNED.resize],
  ['start task', PINNED.start],
  ['guest agent up (first boot)', PINNED.agentBootFirst],
  ['ping proxmox host', PINNED.ping],
  ['ping backup server', PINNED.ping],
  ['update run', PINNED.updateRun],
];

const sum = (steps: [string, number][]) => steps.reduce((a, [, ms]) => a + ms, 0);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function latency(): Promise<boolean> {
  const scale = 1 / TIME_SCALE;
  const env = new LifecycleEnv({
    simulator: { latency: 'realistic', timeScale: TIME_SCALE, world: undefined },
    settings: {
      agentPollMs: 1000 * scale,
      agentPollMaxMs: 10_000 * scale,
      execPollMs: 100 * scale,
      agentTimeoutMs: 600_000 * scale,
      checkTimeoutMs: 60_000 * scale,
      updateTimeoutMs: 900_000 * scale,
    },
    controllerSettings: { shutdownTimeoutSec: 60 },
    clientOptions: { taskPoll: { initialMs: 100 * scale, maxMs: 2000 * scale, factor: 2 } },
  });
  // Pin the profile; one node per sample and kind, so each request has exactly one worker on its host.
  const { defaultWorld } = await import('../controller/simulator/world/default-world.js');
  const base = defaultWorld();
  const nodes = Array.from({ length: 2 * SAMPLES }, (_, i) => ({
    name: `pve${i + 1}`,
    ip: `10.0.0.${11 + i}`,
    cpus: 32,
    memoryGiB: 256,
  }));
  // A copy of the template on every node's local-lvm: an OnDemand deploy is then the local full clone
  // the steps above list (from one template on pve1 it would clone across to the shared storage and
  // move the disk back: a second full copy; README "Running against a real cluster").
  const tpl = base.templates![0]!;
  const templates = nodes.map((n, i) => ({
    ...tpl,
    vmid: tpl.vmid + i,
    node: n.name,
    storage: 'local-lvm',
    config: { ...tpl.config, ide2: `local-lvm:vm-${tpl.vmid + i}-cloudinit,media=cdrom` },
  }));
  (env.opts.simulator as { world?: unknown }).world = { ...base, nodes, templates, latencies: PINNED };
  for (let i = 0; i < SAMPLES; i++) {
    env.write(`d${i}.yaml`, workerYaml(`deployed-${i}`, { deploy: 'Eager', host: `pve${2 * i + 1}` }));
    env.write(`o${i}.yaml`, workerYaml(`ondemand-${i}`, { host: `pve${2 * i + 2}` }));
  }
  await env.start();
  await env.converged(600_000 * scale + 60_000);

  const measure = async (host: string, worker: string): Promise<number> => {
    const t0 = performance.now();
    const res = await env.http<{ worker: string; session: { id: string } }>('POST', '/v1/sessions', { host });
    const ms = performance.now() - t0;
    if (res.status !== 201 || res.body.worker !== worker) {
      throw new Error(`session for ${worker}: ${res.status} ${JSON.stringify(res.body)}`);
    }
    await env.http('DELETE', `/v1/sessions/${res.body.session.id}`);
    return ms * TIME_SCALE;
  };

  const firstBoot: number[] = [];
  const deployed: number[] = [];
  const ondemand: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    // An Eager VM that never ran boots with cloud-init first (slower); then as any deployed worker.
    firstBoot.push(await measure(`pve${2 * i + 1}`, `deployed-${i}`));
    deployed.push(await measure(`pve${2 * i + 1}`, `deployed-${i}`));
    ondemand.push(await measure(`pve${2 * i + 2}`, `ondemand-${i}`));
  }
  await env.dispose();

  let ok = true;
  console.log(
    `session start latency, realistic profile pinned to mid-range, time scale x${TIME_SCALE}, ${SAMPLES} samples`,
  );
  console.log('(simulated time = real time x time scale)\n');
  for (const [label, steps, samples] of [
    ['deployed worker (powered off, booted before)', STEPS_DEPLOYED, deployed],
    ['deployed worker, first boot (Eager, never started)', STEPS_FIRST_BOOT, firstBoot],
    ['OnDemand worker (no VM yet)', STEPS_ONDEMAND, ondemand],
  ] as const) {
    const total = sum(steps as [string, number][]);
    const med = median(samples as number[]);
    const ratio = med / total;
    ok &&= ratio <= TARGET_RATIO;
    console.log(`  ${label}`);
    for (const [name, ms] of steps) console.log(`    ${name.padEnd(30)} ${fmt(ms).padStart(8)}`);
    console.log(`    ${'sum of simulated steps'.padEnd(30)} ${fmt(total).padStart(8)}`);
    console.log(
      `    measured request -> Working: median ${fmt(med)}, min ${fmt(Math.min(...samples))}, max ${fmt(Math.max(...samples))}`,
    );
    console.log(
      `    ratio ${ratio.toFixed(3)} (target <= ${TARGET_RATIO}) ${ratio <= TARGET_RATIO ? 'OK' : 'MISSED'}\n`,
    );
  }
  return ok;
}

async function concurrency(): Promise<boolean> {
  const WORKERS = 20;
  const REQUESTS = 200;
  const SLOTS = 4;
  const env = new LifecycleEnv({ settings: { sessionWaitMs: 120_000 } });
  for (let i = 0; i < WORKERS; i++) {
    env.write(
      `w${i}.yaml`,
      workerYaml(`conc-${String(i).padStart(2, '0')}`, {
        host: `pve${(i % 3) + 1}`,
        maxConcurrentTasks: SLOTS,
      }),
    );
  }
  await env.start();
  await env.converged(60_000);
  let maxBooked = 0;
  let samples = 0;
  const sample = () => {
    samples++;
    for (const used of usedSlots(env.store.listSessions()).values()) maxBooked = Math.max(maxBooked, used);
  };
  const unsubscribe = env.lifecycle.events.subscribe((e) => e.type === 'session' && sample());
  const timer = setInterval(sample, 2);
  const t0 = performance.now();
  const latencies: number[] = [];
  const results = await Promise.all(
    Array.from({ length: REQUESTS }, async (_, i) => {
      const t = performance.now();
      const res = await env.http<{ session: { id: string } }>('POST', '/v1/sessions', {
        host: `pve${(i % 3) + 1}`,
        tasks: 1 + (i % 2),
        wait: '120s',
      });
      latencies.push(performance.now() - t);
      if (res.status !== 201) return res.status;
      await new Promise((r) => setTimeout(r, 20));
      await env.http('DELETE', `/v1/sessions/${res.body.session.id}`);
      return 201;
    }),
  );
  const wall = performance.now() - t0;
  clearInterval(timer);
  unsubscribe();
  const served = results.filter((s) => s === 201).length;
  const leftOpen = env.store.listSessions().length;
  await env.dispose();
  const ok = served === REQUESTS && maxBooked <= SLOTS && leftOpen === 0;
  console.log(
    `${REQUESTS} concurrent session requests over ${WORKERS} workers (${SLOTS} task slots each, 1-2 tasks per request, fast profile)`,
  );
  console.log(`  served ${served}/${REQUESTS} (lost ${REQUESTS - served}), sessions left open ${leftOpen}`);
  console.log(
    `  most task slots ever booked on one worker: ${maxBooked} (limit ${SLOTS}; ${samples} samples)`,
  );
  console.log(
    `  wall ${(wall / 1000).toFixed(2)} s; request -> Working median ${median(latencies).toFixed(0)} ms, max ${Math.max(...latencies).toFixed(0)} ms`,
  );
  console.log(`  ${ok ? 'OK' : 'MISSED'}`);
  return ok;
}

const a = await latency();
const b = await concurrency();
process.exitCode = a && b ? 0 : 1;
