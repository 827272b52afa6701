/**
 * GET /nodes/{node}/tasks (list), /nodes/{node}/tasks/{upid}/status and /log, DELETE /nodes/{node}/tasks/{upid}
 * (pve-manager PVE/API2/Tasks.pm), and GET /cluster/tasks (pve-manager PVE/API2/Cluster.pm tasks).
 */
import { paramError } from '../http/api-error.js';
import type { ApiRequest } from '../http/router.js';
import { Envelope } from '../http/respond.js';
import type { Simulator } from '../simulator.js';
import { parseUpid } from '../tasks.js';
import type { Task } from '../tasks.js';
import { optNum, optStr, str } from './params.js';

function findTask(sim: Simulator, req: ApiRequest): Task {
  const upid = str(req, 'upid');
  const parsed = parseUpid(upid);
  // Tasks.pm read_task_status/read_task_log: the task log file must exist on the node in the path
  if (!parsed) throw paramError({ upid: 'unable to parse worker upid' });
  const task = sim.tasks.get(upid);
  if (!task || parsed.node !== str(req, 'node')) throw paramError({ upid: 'no such task' });
  return task;
}

/** Tasks.pm read_task_status: the decoded UPID, the token split off, status, and exitstatus once stopped. */
export function getTaskStatus(sim: Simulator, req: ApiRequest): unknown {
  const t = findTask(sim, req);
  const out: Record<string, unknown> = { ...decoded(t), status: t.status };
  if (t.status === 'stopped') out.exitstatus = t.exitstatus;
  return out;
}

export function getTaskLog(sim: Simulator, req: ApiRequest): unknown {
  const t = findTask(sim, req);
  const start = optNum(req, 'start') ?? 0;
  const limit = optNum(req, 'limit') ?? 50;
  const lines = t.log.length > 0 ? t.log : ['no content'];
  const slice = limit === 0 ? lines.slice(start) : lines.slice(start, start + limit);
  return new Envelope(
    slice.map((line, i) => ({ n: start + i + 1, t: line })),
    { total: lines.length },
  );
}

/** pve-common PVE/UPID.pm normalize_status_type (a running task has no status yet: unknown). */
function statusType(t: Task): 'ok' | 'warning' | 'error' | 'unknown' {
  if (t.status === 'running' || !t.exitstatus) return 'unknown';
  if (t.exitstatus === 'OK') return 'ok';
  if (/^WARNINGS: \d+$/.test(t.exitstatus)) return 'warning';
  if (t.exitstatus === 'unexpected status') return 'unknown';
  return 'error';
}

/** Tasks.pm $convert_token_task: a token's task shows `user` and `tokenid` apart. */
function userFields(t: Task): { user: string; tokenid?: string } {
  const [user, tokenid] = t.user.split('!');
  return tokenid === undefined ? { user } : { user, tokenid };
}

/** pve-common PVE/UPID.pm decode with the upid, the token split off ($convert_token_task). */
function decoded(t: Task): Record<string, unknown> {
  return {
    upid: t.upid,
    node: t.node,
    pid: t.pid,
    pstart: t.pstart,
    starttime: t.starttime,
    type: t.type,
    id: t.id,
    ...userFields(t),
  };
}

/** A finished task as the node's task index lists it (UPID::decode plus endtime and status). */
function archiveEntry(t: Task): Record<string, unknown> {
  return { ...decoded(t), endtime: Math.floor((t.endedAt ?? Date.now()) / 1000), status: t.exitstatus };
}

/** A running task as the node's `active` file lists it (RESTEnvironment.pm active_workers drops pstart). */
function activeEntry(t: Task): Record<string, unknown> {
  const e = decoded(t);
  delete e.pstart;
  return e;
}

/** The node's finished tasks as the index is read (File::ReadBackwards): last archived first. */
function archived(sim: Simulator, node: string): Task[] {
  return sim.tasks
    .all()
    .filter((t) => t.node === node && t.status === 'stopped')
    .sort((a, b) => (b.endedAt ?? 0) - (a.endedAt ?? 0) || b.starttime - a.starttime || b.pid - a.pid);
}

/**
 * GET /nodes/{node}/tasks as pve-manager PVE/API2/Tasks.pm node_tasks: source archive (default: the task
 * index, last finished first), active (running tasks, status RUNNING) or all (active first); filters
 * userfilter (substring, any case), typefilter, vmid, since/until (start time), statusfilter (ok, warning,
 * error, unknown - a running task is unknown) or errors (everything but ok); `start` skips and `limit`
 * (default 50) cuts matches; `total` counts every match.
 */
export function listTasks(sim: Simulator, req: ApiRequest): unknown {
  const node = str(req, 'node');
  const source = optStr(req, 'source') ?? 'archive';
  const start = optNum(req, 'start') ?? 0;
  let limit = optNum(req, 'limit') ?? 50;
  const userFilter = optStr(req, 'userfilter')?.toLowerCase();
  const type = optStr(req, 'typefilter');
  const vmid = optNum(req, 'vmid');
  const since = optNum(req, 'since');
  const until = optNum(req, 'until');
  const errors = req.params.errors === 1;
  const wanted = new Set(['ok', 'warning', 'error', 'unknown']);
  const statusfilter = optStr(req, 'statusfilter');
  if (statusfilter !== undefined && !errors) {
    wanted.clear();
    for (const f of statusfilter.split(/[;,\s]+/).filter(Boolean)) wanted.add(f.toLowerCase());
  } else if (errors) wanted.delete('ok');
  let count = 0;
  const skip = (t: Task): boolean => {
    if (userFilter && !userFields(t).user.toLowerCase().includes(userFilter)) return true;
    if (type && t.type !== type) return true;
    if (vmid && t.id !== String(vmid)) return true;
    if (since !== undefined && t.starttime < since) return true;
    if (until !== undefined && t.starttime > until) return true;
    if (!wanted.has(statusType(t))) return true;
    if (count++ < start) return true;
    return limit <= 0;
  };
  const out: unknown[] = [];
  if (source === 'active' || source === 'all')
    for (const t of sim.tasks.running().filter((x) => x.node === node))
      if (!skip(t)) {
        out.push({ ...activeEntry(t), status: 'RUNNING' });
        limit--;
      }
  if (source !== 'active')
    for (const t of archived(sim, node))
      if (!skip(t)) {
        out.push(archiveEntry(t));
        limit--;
      }
  return new Envelope(out, { total: count });
}

/**
 * GET /cluster/tasks as pve-manager PVE/API2/Cluster.pm tasks: the task lists every node broadcasts at each
 * task's start and end (pve-common PVE/RESTEnvironment.pm active_workers): its running tasks, then its most
 * recent finished ones, 25 in all; finished entries carry endtime, status and saved.
 */
export function clusterTasks(sim: Simulator): unknown {
  const MAX_FINISHED = 25;
  const out: unknown[] = [];
  for (const node of sim.world.nodes.keys()) {
    const running = sim.tasks.running().filter((t) => t.node === node);
    for (const t of running) out.push(activeEntry(t));
    const finished = sim.tasks
      .all()
      .filter((t) => t.node === node && t.status === 'stopped')
      .sort((a, b) => b.starttime - a.starttime || b.pid - a.pid)
      .slice(0, Math.max(0, MAX_FINISHED - running.length));
    for (const t of finished) {
      const e = archiveEntry(t);
      delete e.pid;
      delete e.pstart;
      out.push({ ...e, saved: 1 });
    }
  }
  return out;
}

export function deleteTask(sim: Simulator, req: ApiRequest): unknown {
  const t = findTask(sim, req);
  if (t.status === 'running') {
    sim.tasks.crash(t.upid);
    t.exitstatus = 'interrupted by signal';
    t.log.push('TASK ERROR: interrupted by signal');
  }
  return null;
}
