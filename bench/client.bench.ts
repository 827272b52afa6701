/**
 * The Proxmox client's own overhead per call: GET /version and GET config through raw node:http (a
 * keep-alive agent, JSON.parse) versus through the client (got, auth, envelope, error mapping, codec),
 * against the same in-process simulator in one run. Prints microseconds per call and the ratio.
 *
 * Run: npx tsc -p . && node dist/bench/run.js client
 */
import http from 'node:http';
import { createProxmoxClient } from '../controller/proxmox/http-client.js';
import { startSimulator } from '../controller/simulator/index.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const CALLS = Number(process.env.BENCH_CALLS ?? 400);

function rawGet(agent: http.Agent, base: URL, path: string, token: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: base.hostname,
        port: base.port,
        path: `/api2/json${path}`,
        agent,
        headers: { authorization: `PVEAPIToken=${token}`, accept: 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            resolve((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { data: unknown }).data);
          } catch (err) {
            reject(err as Error);
          }
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function timePerCall(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < CALLS; i++) await fn();
  return ((performance.now() - t0) * 1000) / CALLS;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  // latency 'fast' still sleeps a little per call; the overhead is the difference, so both paths see it.
  const running = await startSimulator({ latency: 'fast', seed: 1 });
  const base = new URL(running.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const client = createProxmoxClient({
    url: running.url,
    auth: { kind: 'token', token: running.token },
    maxSockets: 1,
  });
  const cases: [string, string, () => Promise<unknown>][] = [
    ['GET /version', '/version', () => client.version()],
    ['GET config', '/nodes/pve1/qemu/9000/config', () => client.getConfig('pve1', 9000)],
  ];
  try {
    // warm-up: JIT, sockets
    for (const [, path, viaClient] of cases) {
      for (let i = 0; i < 100; i++) {
        await rawGet(agent, base, path, running.token);
        await viaClient();
      }
    }
    process.stdout.write(
      `calls per round: ${CALLS}, rounds: ${ROUNDS} (median), simulator latency profile: fast\n`,
    );
    process.stdout.write('call            raw http µs  client µs  overhead µs  ratio\n');
    let worst = 0;
    for (const [name, path, viaClient] of cases) {
      const raw: number[] = [];
      const via: number[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        // alternate which side goes first, so drift on a shared machine hits both alike
        if (r % 2 === 0) {
          raw.push(await timePerCall(() => rawGet(agent, base, path, running.token)));
          via.push(await timePerCall(viaClient));
        } else {
          via.push(await timePerCall(viaClient));
          raw.push(await timePerCall(() => rawGet(agent, base, path, running.token)));
        }
      }
      const a = median(raw);
      const b = median(via);
      process.stdout.write(
        `${name.padEnd(15)} ${a.toFixed(0).padStart(11)}  ${b.toFixed(0).padStart(9)}  ${(b - a).toFixed(0).padStart(11)}  ${(b / a).toFixed(2)}x\n`,
      );
      worst = Math.max(worst, b - a);
    }
    // The realistic profile (controller/simulator/latency.ts): a small GET costs 10-40 ms (pveproxy -> pvedaemon).
    process.stdout.write(
      `largest overhead ${worst.toFixed(0)} µs = ${((worst / 10_000) * 100).toFixed(1)}% of a 10 ms real-PVE GET, ${((worst / 40_000) * 100).toFixed(1)}% of a 40 ms one\n`,
    );
  } finally {
    client.close();
    agent.destroy();
    await running.close();
  }
}

await main();
