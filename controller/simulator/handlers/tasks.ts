/** GET /nodes/{node}/tasks/{upid}/status and /log, DELETE /nodes/{node}/tasks/{upid}. */
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
  if (!parsed) throw paramError({ upid: `unable to parse worker upid '${upid}'` });
  const task = sim.tasks.get(upid);
  if (!task || parsed.node !== str(req, 'node')) throw paramError({ upid: 'no such task' });
  return task;
}

export function getTaskStatus(sim: Simulator, req: ApiRequest): unknown {
  const t = findTask(sim, req);
  const [user, tokenid] = t.user.split('!');
  const out: Record<string, unknown> = {
    upid: t.upid,
    node: t.node,
    pid: t.pid,
    pstart: t.pstart,
    starttime: t.starttime,
    type: t.type,
    id: t.id,
    user,
    status: t.status,
  };
  if (tokenid) out.tokenid = tokenid;
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

/** GET /nodes/{node}/tasks: finished tasks by default (source=archive), newest first, paged. */
export function listTasks(sim: Simulator, req: ApiRequest): unknown {
  const node = str(req, 'node');
  const source = optStr(req, 'source') ?? 'archive';
  const vmid = optNum(req, 'vmid');
  const type = optStr(req, 'typefilter');
  const userFilter = optStr(req, 'userfilter');
  const statuses = optStr(req, 'statusfilter')
    ?.split(/[;,\s]+/)
    .filter(Boolean);
  const since = optNum(req, 'since');
  const until = optNum(req, 'until');
  const onlyErrors = req.params.errors === 1;
  const rows = sim.tasks
    .all()
    .filter((t) => t.node === node)
    .filter((t) =>
      source === 'all' ? true : source === 'active' ? t.status === 'running' : t.status === 'stopped',
    )
    .filter((t) => vmid === undefined || t.id === String(vmid))
    .filter((t) => type === undefined || t.type === type)
    .filter((t) => userFilter === undefined || t.user.includes(userFilter))
    .filter((t) => since === undefined || t.starttime >= since)
    .filter((t) => until === undefined || t.starttime <= until)
    .filter((t) => !onlyErrors || (t.status === 'stopped' && t.exitstatus !== 'OK'))
    .filter((t) => {
      if (!statuses) return true;
      const kind =
        t.status === 'running'
          ? 'running'
          : t.exitstatus === 'OK'
            ? 'ok'
            : t.exitstatus?.startsWith('WARNINGS')
              ? 'warning'
              : 'error';
      return statuses.includes(kind);
    })
    .sort((a, b) => b.starttime - a.starttime || b.pid - a.pid);
  const start = optNum(req, 'start') ?? 0;
  const limit = optNum(req, 'limit') ?? 50;
  const page = limit === 0 ? rows.slice(start) : rows.slice(start, start + limit);
  return new Envelope(
    page.map((t) => {
      const e: Record<string, unknown> = {
        upid: t.upid,
        node: t.node,
        pid: t.pid,
        pstart: t.pstart,
        starttime: t.starttime,
        type: t.type,
        id: t.id,
        user: t.user,
      };
      if (t.status === 'stopped') {
        e.status = t.exitstatus;
        e.endtime = Math.floor((t.endedAt ?? Date.now()) / 1000);
      }
      return e;
    }),
    { total: rows.length },
  );
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
