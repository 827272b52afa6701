/**
 * What the fleet benchmarks (reconcile, api-economy) share: `workerctl simulator` started as its own
 * process, the ten-node world with a template copy on every node, and a Worker document.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../controller/paths.js';
import { scaledWorld } from '../controller/simulator/world/default-world.js';
import type { WorldConfig } from '../controller/simulator/world/types.js';

const MAIN = join(packageRoot, 'dist', 'controller', 'main.js');

export interface SimProcess {
  url: string;
  token: string;
  /** The certificate's fingerprint, with `tls`. */
  fingerprint?: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

export interface SimProcessOptions {
  world: WorldConfig;
  latency: 'fast' | 'realistic';
  timeScale: number;
  /** The simulator's models no Proxmox source grounds (`--no-assumptions` when false). */
  assumptions: boolean;
  tls?: boolean;
}

/** Starts `workerctl simulator` as its own process (world file in `dir`) and reads its url and token. */
export async function startSimProcess(dir: string, opts: SimProcessOptions): Promise<SimProcess> {
  const worldFile = join(dir, `world-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(worldFile, JSON.stringify(opts.world));
  const args = ['simulator', '--port', '0', '-o', 'json', '--latency', opts.latency];
  args.push('--time-scale', String(opts.timeScale), '--world', worldFile);
  if (!opts.assumptions) args.push('--no-assumptions');
  if (opts.tls) args.push('--tls');
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const info = await new Promise<{ url: string; token: string; fingerprint?: string }>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\n')) resolve(JSON.parse(buf.split('\n')[0]!) as { url: string; token: string });
    });
    child.once('exit', (code) => reject(new Error(`simulator exited ${code}`)));
  });
  return {
    ...info,
    child,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/**
 * `nodes` nodes with a copy of the template on every node's local-lvm, so that every deploy is a
 * local clone (README "Running against a real cluster" recommends it).
 */
export function templateOnEveryNode(nodes: number): WorldConfig {
  const world = scaledWorld(nodes, 0);
  delete world.generate;
  const tpl = world.templates![0]!;
  world.templates = world.nodes.map((node, i) => ({
    ...tpl,
    vmid: tpl.vmid + i,
    node: node.name,
    storage: 'local-lvm',
    config: { ...tpl.config, ide2: `local-lvm:vm-${tpl.vmid + i}-cloudinit,media=cdrom` },
  }));
  return world;
}

/** A Worker document on `node` (template worker-template, local-lvm, DHCP); `extra` adds spec lines. */
export function workerDoc(name: string, node: string, extra = ''): string {
  return [
    'apiVersion: workerctl.dev/v1',
    'kind: Worker',
    'metadata:',
    `  name: ${name}`,
    'spec:',
    `  host: ${node}`,
    '  template: worker-template',
    '  storage: local-lvm',
    '  networks: [{bridge: vmbr0, ipv4: dhcp}]',
    extra,
  ]
    .filter(Boolean)
    .join('\n');
}
