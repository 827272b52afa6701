/** GET /nodes/{node}/tasks/{upid}/status and /log, DELETE /nodes/{node}/tasks/{upid}. */
import { paramError } from '../http/api-error.js';
import type { ApiRequest } from '../http/router.js';
import { Envelope } from '../http/respond.js';
import type { Simulator } from '../simulator.js';
import { parseUpid } from '../tasks.js';
import type { Task } from '../tasks.js';
import { optNum, str } from './params.js';

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

export function deleteTask(sim: Simulator, req: ApiRequest): unknown {
  const t = findTask(sim, req);
  if (t.status === 'running') {
    sim.tasks.crash(t.upid);
    t.exitstatus = 'interrupted by signal';
    t.log.push('TASK ERROR: interrupted by signal');
  }
  return null;
}
