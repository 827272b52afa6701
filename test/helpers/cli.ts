/**
 * Runs the real `workerctl` binary (dist/controller/main.js) as a child process against a simulator
 * that lives in the test process, so the simulator outlives the child (kill -9 scenarios).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../controller/paths.js';
import type { RunningSimulator } from '../../controller/simulator/index.js';
import { composeRecord } from '../../controller/store/sections.js';
import type { StoreData } from '../../controller/store/store.js';
import type { WorkerRecord } from '../../controller/types.js';

export const MAIN = join(packageRoot, 'dist', 'controller', 'main.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The connection flags for a simulator: --server, --token-file (written into dir). */
export function simFlags(sim: RunningSimulator, dir: string): string[] {
  const tokenFile = join(dir, 'token');
  if (!existsSync(tokenFile)) writeFileSync(tokenFile, sim.token + '\n', { mode: 0o600 });
  return ['--server', sim.url, '--token-file', tokenFile];
}

/** The test process's environment without WORKERCTL_* settings (other tests may have set some). */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('WORKERCTL_')) env[k] = v;
  return { ...env, ...extra };
}

/** Runs workerctl to completion. */
export function runCli(
  args: string[],
  opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], {
      env: cleanEnv({ WORKERCTL_LOG_LEVEL: 'warn', ...opts.env }),
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`workerctl ${args[0]} timed out\n${stderr}`));
    }, opts.timeoutMs ?? 20_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Starts a long-running workerctl (run) and returns the child. */
export function startCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): ChildProcess & { output: () => string } {
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: cleanEnv({ WORKERCTL_LOG_LEVEL: 'info', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return Object.assign(child, { output: () => out });
}

/** Waits for a child to exit; resolves its exit code (or signal name). */
export function exited(child: ChildProcess): Promise<number | string> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  if (child.signalCode !== null) return Promise.resolve(child.signalCode);
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
}

/** The worker records in a state directory's database file (read without the lock), as readers see them. */
export function storedWorkers(stateDir: string): Record<string, WorkerRecord> {
  const file = join(stateDir, 'workerctl.db.json');
  if (!existsSync(file)) return {};
  let data: StoreData;
  try {
    data = JSON.parse(readFileSync(file, 'utf8')) as StoreData;
  } catch {
    return {};
  }
  return Object.fromEntries(Object.entries(data.workers).map(([name, s]) => [name, composeRecord(s)]));
}
