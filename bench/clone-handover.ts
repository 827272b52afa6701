/**
 * Where the time between two clones on a node goes (reconcile bench (a)): for every clone task that
 * ended with another clone after it on the same node, how long its slot stood idle (the task's end to
 * the next POST …/clone arriving), split at the first task listing of that node answered after the
 * end (the controller cannot know sooner). Read after convergence from the simulator's call log
 * (GET /_sim/calls, arrival and answer times) and its tasks (GET /_sim/tasks/{upid}: endedAt), both
 * in real ms.
 */
import { quantile } from './quantile.js';

interface Call {
  method: string;
  path: string;
  startMs: number;
  endMs: number;
}

export interface HandoverFigures {
  clones: number;
  /** Real ms per hand-over: slot idle, end to end seen, end seen to next clone sent. */
  idle: number[];
  seen: number[];
  relaunch: number[];
}

/** Reads the simulator and measures each node's clone hand-overs. */
export async function cloneHandovers(
  sim: { url: string; token: string },
  nodes: readonly string[],
): Promise<HandoverFigures> {
  const auth = { Authorization: `PVEAPIToken=${sim.token}` };
  const calls = (await (await fetch(`${sim.url}/_sim/calls`)).json()) as Call[];
  const out: HandoverFigures = { clones: 0, idle: [], seen: [], relaunch: [] };
  for (const node of nodes) {
    const listed = (await (
      await fetch(`${sim.url}/api2/json/nodes/${node}/tasks?source=all&typefilter=qmclone&limit=100000`, {
        headers: auth,
      })
    ).json()) as { data: { upid: string }[] };
    const ends: number[] = [];
    for (const t of listed.data) {
      const task = (await (await fetch(`${sim.url}/_sim/tasks/${encodeURIComponent(t.upid)}`)).json()) as {
        endedAt?: number;
      };
      if (task.endedAt !== undefined) ends.push(task.endedAt);
    }
    out.clones += ends.length;
    const looks = calls
      .filter((c) => c.method === 'GET' && c.path === `/nodes/${node}/tasks`)
      .map((c) => c.endMs)
      .sort((a, b) => a - b);
    const sends = calls
      .filter(
        (c) => c.method === 'POST' && c.path.startsWith(`/nodes/${node}/qemu/`) && c.path.endsWith('/clone'),
      )
      .map((c) => c.startMs)
      .sort((a, b) => a - b);
    for (const end of ends) {
      const next = sends.find((s) => s > end);
      if (next === undefined) continue;
      out.idle.push(next - end);
      const seen = looks.find((l) => l > end);
      if (seen !== undefined && seen <= next) {
        out.seen.push(seen - end);
        out.relaunch.push(next - seen);
      }
    }
  }
  return out;
}

/** mean / p50 / p90 of real ms, and the mean in simulated s at `timeScale`. */
export function describeMs(values: number[], timeScale: number): string {
  if (values.length === 0) return 'none';
  const s = [...values].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return `mean ${mean.toFixed(0)} ms (${((mean * timeScale) / 1000).toFixed(1)} s sim), p50 ${quantile(s, 0.5).toFixed(0)}, p90 ${quantile(s, 0.9).toFixed(0)}`;
}
