/**
 * Validation benchmark: 10,000 Worker documents in 1,000 files (10 per file, features mixed), loaded
 * with loadManifests. Prints, side by side for the default loader (js-yaml fast path) and the full
 * `yaml` path: best and median wall time and CPU time over several runs, and the peak RSS of one
 * load in a fresh process. Targets: < 1 s and < 200 MB.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { loadManifests } from '../controller/manifest/load.js';

const FILES = 1000;
const PER_FILE = 10;
const RUNS = 7;
const TARGET_MS = 1000;
const TARGET_MB = 200;

/** One worker document; n picks which optional features it uses. */
function workerDoc(n: number): string {
  const host = `pve${(n % 3) + 1}`;
  const a = Math.floor(n / 62500) % 250;
  const b = Math.floor(n / 250) % 250;
  const c = (n % 250) + 2;
  const net =
    n % 2 === 0
      ? `    - bridge: vmbr0\n      ipv4: dhcp\n`
      : `    - bridge: vmbr0\n      vlan: ${(n % 4000) + 1}\n      ipv4: {address: 10.${a}.${b}.${c}/16, gateway: 10.${a}.0.1}\n` +
        `    - bridge: vmbr1\n      ipv4: dhcp\n`;
  const extra =
    n % 3 === 0
      ? `  updates:\n    enabled: true\n    proxy: {host: proxy.lan, port: 3128, username: svc, passwordFile: /etc/workerctl/proxy.pw}\n`
      : `  dns: {servers: [10.0.0.53, 10.0.0.54]}\n`;
  return (
    `apiVersion: workerctl.dev/v1\nkind: Worker\nmetadata:\n  name: bench-worker-${n}\n  labels: {site: dc${n % 4}, rack: "r${n % 40}"}\n` +
    `spec:\n  host: ${host}\n  template: worker-template\n  storage: local-lvm\n  description: "bench worker ${n}"\n` +
    `  maxConcurrentTasks: ${(n % 8) + 1}\n  diskGiB: 100\n  networks:\n${net}${extra}` +
    `  deploy: ${n % 5 === 0 ? 'Eager' : 'OnDemand'}\n  applyChanges: WhenIdle\n`
  );
}

function generate(dir: string): number {
  let bytes = 0;
  for (let f = 0; f < FILES; f++) {
    const sub = join(dir, `group-${Math.floor(f / 100)}`);
    mkdirSync(sub, { recursive: true });
    const docs: string[] = [];
    for (let d = 0; d < PER_FILE; d++) docs.push(workerDoc(f * PER_FILE + d));
    const text = docs.join('---\n');
    bytes += Buffer.byteLength(text);
    writeFileSync(join(sub, `workers-${f}.yaml`), text);
  }
  return bytes;
}

interface Timing {
  best: number;
  median: number;
  cpuMedian: number;
  workers: number;
  diagnostics: number;
}

async function time(dir: string, fastPath: boolean): Promise<Timing> {
  const wall: number[] = [];
  const cpu: number[] = [];
  let workers = 0;
  let diagnostics = 0;
  for (let i = 0; i < RUNS; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const res = await loadManifests([dir], { fastPath });
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
    workers = res.workers.length;
    diagnostics = res.diagnostics.length;
  }
  const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return { best: Math.min(...wall), median: med(wall), cpuMedian: med(cpu), workers, diagnostics };
}

/** Peak RSS (MB) of a fresh process that loads the set once. */
function peakRss(dir: string, mode: 'fast' | 'full'): { mb: number; ms: number } {
  const res = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', dir, mode], {
    encoding: 'utf8',
  });
  if (res.status !== 0) throw new Error(`child failed: ${res.stderr}`);
  return JSON.parse(res.stdout) as { mb: number; ms: number };
}

async function child(dir: string, mode: string): Promise<void> {
  const t0 = performance.now();
  await loadManifests([dir], { fastPath: mode === 'fast' });
  const ms = performance.now() - t0;
  process.stdout.write(JSON.stringify({ mb: (process.resourceUsage().maxRSS * 1024) / 1e6, ms }));
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'workerctl-bench-validate-'));
  try {
    const bytes = generate(dir);
    const fastRss = peakRss(dir, 'fast');
    const fullRss = peakRss(dir, 'full');
    const fast = await time(dir, true);
    const full = await time(dir, false);
    const row = (k: string, a: string, b: string): void =>
      void process.stdout.write(`${k.padEnd(34)}${a.padEnd(22)}${b}\n`);
    process.stdout.write(
      `input: ${FILES} files, ${FILES * PER_FILE} documents, ${(bytes / 1e6).toFixed(1)} MB; ${RUNS} runs each\n`,
    );
    row('', 'default (fast path)', 'full yaml path');
    row(
      'loaded workers / diagnostics',
      `${fast.workers} / ${fast.diagnostics}`,
      `${full.workers} / ${full.diagnostics}`,
    );
    row('wall, best', `${fast.best.toFixed(0)} ms`, `${full.best.toFixed(0)} ms`);
    row('wall, median', `${fast.median.toFixed(0)} ms`, `${full.median.toFixed(0)} ms`);
    row('CPU (user+sys), median', `${fast.cpuMedian.toFixed(0)} ms`, `${full.cpuMedian.toFixed(0)} ms`);
    row('cold load in a fresh process', `${fastRss.ms.toFixed(0)} ms`, `${fullRss.ms.toFixed(0)} ms`);
    row('peak RSS, fresh process', `${fastRss.mb.toFixed(0)} MB`, `${fullRss.mb.toFixed(0)} MB`);
    row(
      'median vs target 1000 ms',
      `x${(fast.median / TARGET_MS).toFixed(2)}`,
      `x${(full.median / TARGET_MS).toFixed(2)}`,
    );
    row(
      'peak RSS vs target 200 MB',
      `x${(fastRss.mb / TARGET_MB).toFixed(2)}`,
      `x${(fullRss.mb / TARGET_MB).toFixed(2)}`,
    );
    row('speed-up of the fast path', `x${(full.median / fast.median).toFixed(1)}`, '');
    const ok =
      fast.median < TARGET_MS &&
      fastRss.mb < TARGET_MB &&
      fast.workers === FILES * PER_FILE &&
      fast.diagnostics === 0;
    process.stdout.write(
      `result: ${ok ? 'PASS' : 'FAIL'} (default loader: median < ${TARGET_MS} ms, peak RSS < ${TARGET_MB} MB, all valid)\n`,
    );
    process.exitCode = ok ? 0 : 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') await child(process.argv[3]!, process.argv[4]!);
else await main();
