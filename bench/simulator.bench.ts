/**
 * Simulator throughput: requests per second for GET /cluster/resources with 1,000 and 10,000 VMs, and
 * GET /version as a baseline, measured side by side in one run. Each world runs in its own
 * `workerctl simulator` child process (fast latency profile, so this measures the simulator, not the
 * simulated PVE delays); this process drives a bounded concurrent keep-alive load, rotating between the
 * targets in rounds so drift on the machine hits all of them alike.
 *
 * Run: `npx tsc -p . && node dist/bench/simulator.bench.js` (or `make bench`, or `node dist/bench/run.js simulator`).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../controller/paths.js';

const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 1500);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TOKEN = 'root@pam!bench=00000000-0000-4000-8000-000000000000';

interface Sim {
  url: string;
  child: ChildProcess;
}

function world(vms: number): string {
  const nodes = Array.from({ length: 10 }, (_, i) => `  - {name: pve${i + 1}, ip: 10.0.1.${i + 11}}`).join(
    '\n',
  );
  return `nodes:\n${nodes}\nstorages:\n  - {id: local-lvm, type: lvmthin, content: [images, rootdir]}\n  - {id: cephpool, type: rbd, content: [images], shared: true}\ngenerate: {vms: ${vms}, startVmid: 1000, runningShare: 0.5}\n`;
}

async function startSim(dir: string, vms: number): Promise<Sim> {
  const file = join(dir, `world-${vms}.yaml`);
  writeFileSync(file, world(vms));
  const child = spawn(
    process.execPath,
    [
      join(packageRoot, 'dist', 'controller', 'main.js'),
      'simulator',
      '--port',
      '0',
      '--world',
      file,
      '--token',
      TOKEN,
      '-o',
      'json',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('\n')) resolve((JSON.parse(out.split('\n')[0]) as { url: string }).url);
    });
    child.on('exit', (code) => reject(new Error(`simulator exited with ${code}`)));
  });
  return { url, child };
}

interface Result {
  requests: number;
  bytes: number;
  latencies: number[];
  errors: number;
  ms: number;
}

/** Runs `CONCURRENCY` request loops against one URL for `ms`. */
async function load(url: string, ms: number): Promise<Result> {
  const u = new URL(url);
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const res: Result = { requests: 0, bytes: 0, latencies: [], errors: 0, ms };
  const until = performance.now() + ms;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const t0 = performance.now();
      const req = request(
        {
          host: u.hostname,
          port: u.port,
          path: u.pathname + u.search,
          agent,
          headers: { Authorization: `PVEAPIToken=${TOKEN}` },
        },
        (r) => {
          r.on('data', (c: Buffer) => (res.bytes += c.length));
          r.on('end', () => {
            if (r.statusCode === 200) {
              res.requests++;
              res.latencies.push(performance.now() - t0);
            } else res.errors++;
            resolve();
          });
        },
      );
      req.on('error', () => {
        res.errors++;
        resolve();
      });
      req.end();
    });
  const loop = async (): Promise<void> => {
    while (performance.now() < until) await one();
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, loop));
  res.ms = performance.now() - t0;
  agent.destroy();
  return res;
}

function pct(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'workerctl-bench-'));
  const sims: Sim[] = [];
  try {
    const s1k = await startSim(dir, 1000);
    sims.push(s1k);
    const s10k = await startSim(dir, 10000);
    sims.push(s10k);
    const targets = [
      { name: 'GET /version (1,000 VMs)', url: `${s1k.url}/api2/json/version` },
      {
        name: 'GET /cluster/resources?type=vm, 1,000 VMs',
        url: `${s1k.url}/api2/json/cluster/resources?type=vm`,
      },
      {
        name: 'GET /cluster/resources?type=vm, 10,000 VMs',
        url: `${s10k.url}/api2/json/cluster/resources?type=vm`,
      },
    ];
    for (const t of targets) await load(t.url, 300); // warm-up (JIT, sockets)
    const per = new Map<string, Result[]>();
    for (let r = 0; r < ROUNDS; r++)
      for (const t of targets) per.set(t.name, [...(per.get(t.name) ?? []), await load(t.url, ROUND_MS)]);
    process.stdout.write(
      `simulator throughput: concurrency ${CONCURRENCY}, ${ROUNDS} rounds x ${ROUND_MS} ms per target, fast profile, node ${process.version}\n`,
    );
    const rows = targets.map((t) => {
      const rs = per.get(t.name) ?? [];
      const rps = rs.map((x) => (x.requests / x.ms) * 1000).sort((a, b) => a - b);
      const lat = rs.flatMap((x) => x.latencies).sort((a, b) => a - b);
      const reqs = rs.reduce((a, x) => a + x.requests, 0);
      const bytes = rs.reduce((a, x) => a + x.bytes, 0);
      return {
        name: t.name,
        rps: rps[Math.floor(rps.length / 2)],
        p50: pct(lat, 50),
        p95: pct(lat, 95),
        size: reqs ? bytes / reqs : 0,
        errors: rs.reduce((a, x) => a + x.errors, 0),
      };
    });
    const base = rows[0].rps;
    process.stdout.write(
      `${'target'.padEnd(46)} ${'req/s'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p95 ms'.padStart(8)} ${'body KiB'.padStart(9)} ${'vs /version'.padStart(11)} errors\n`,
    );
    for (const r of rows)
      process.stdout.write(
        `${r.name.padEnd(46)} ${r.rps.toFixed(0).padStart(9)} ${r.p50.toFixed(2).padStart(8)} ${r.p95.toFixed(2).padStart(8)} ${(r.size / 1024).toFixed(1).padStart(9)} ${(r.rps / base).toFixed(3).padStart(11)} ${r.errors}\n`,
      );
    process.stdout.write(
      `ratio 1,000 / 10,000 VMs (resources req/s): ${(rows[1].rps / rows[2].rps).toFixed(1)}x\n`,
    );
  } finally {
    for (const s of sims) s.child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
