/**
 * Validation benchmark: 10,000 Worker documents in 1,000 files (10 per file, every feature mixed),
 * loaded with loadManifests. Prints best and median wall time over several runs and the peak RSS,
 * against the targets (< 1 s, < 200 MB).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadManifests } from '../controller/spec/loader.js';

const FILES = 1000;
const PER_FILE = 10;
const RUNS = 7;
const TARGET_MS = 1000;
const TARGET_MB = 200;

/** One worker document; the variant number picks which optional features it uses. */
function workerDoc(n: number): string {
  const host = `pve${(n % 3) + 1}`;
  const third = Math.floor(n / 250) % 250;
  const fourth = (n % 250) + 2;
  const net =
    n % 2 === 0
      ? `    - bridge: vmbr0\n      ipv4: dhcp\n`
      : `    - bridge: vmbr0\n      vlan: ${(n % 4000) + 1}\n      ipv4: {address: 10.${Math.floor(n / 62500) % 250}.${third}.${fourth}/16, gateway: 10.${Math.floor(n / 62500) % 250}.0.1}\n    - bridge: vmbr1\n      ipv4: dhcp\n`;
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

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'workerctl-bench-validate-'));
  try {
    const bytes = generate(dir);
    const baseRssMb = process.memoryUsage().rss / 1e6;
    const times: number[] = [];
    let workers = 0;
    let diagnostics = 0;
    let peakSampled = 0;
    const sampler = setInterval(() => {
      peakSampled = Math.max(peakSampled, process.memoryUsage().rss);
    }, 5);
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      const res = await loadManifests([dir]);
      times.push(performance.now() - t0);
      workers = res.workers.length;
      diagnostics = res.diagnostics.length;
    }
    clearInterval(sampler);
    const sorted = [...times].sort((a, b) => a - b);
    const best = sorted[0]!;
    const median = sorted[Math.floor(sorted.length / 2)]!;
    const first = times[0]!;
    // maxRSS is in KiB and covers the whole process (generation included).
    const peakMb = Math.max(process.resourceUsage().maxRSS * 1024, peakSampled) / 1e6;
    const ok = median < TARGET_MS && peakMb < TARGET_MB && workers === FILES * PER_FILE && diagnostics === 0;
    const line = (k: string, v: string): void => void process.stdout.write(`${k.padEnd(28)}${v}\n`);
    line('input', `${FILES} files, ${FILES * PER_FILE} documents, ${(bytes / 1e6).toFixed(1)} MB`);
    line('loaded', `${workers} workers, ${diagnostics} diagnostics`);
    line('first run (cold: ajv compile)', `${first.toFixed(0)} ms`);
    line(
      'best of ' + RUNS,
      `${best.toFixed(0)} ms  (${((FILES * PER_FILE) / (best / 1000)).toFixed(0)} docs/s)`,
    );
    line(
      'median of ' + RUNS,
      `${median.toFixed(0)} ms  target < ${TARGET_MS} ms  ratio ${(median / TARGET_MS).toFixed(2)}`,
    );
    line(
      'peak RSS',
      `${peakMb.toFixed(0)} MB  (baseline ${baseRssMb.toFixed(0)} MB)  target < ${TARGET_MB} MB  ratio ${(peakMb / TARGET_MB).toFixed(2)}`,
    );
    line('result', ok ? 'PASS' : 'FAIL');
    process.exitCode = ok ? 0 : 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
