/**
 * Which worker serves a new session: a pure function over the records and the open sessions.
 * Rules: enabled; enough free task slots (maxConcurrentTasks minus the tasks of its sessions); on the
 * asked host first, any other host otherwise (a fallback). Among equals: a worker already Working
 * (reuse a running VM), then one being started for another session, then a deployed one (ShutDown),
 * then one not deployed yet; healthy before Degraded; most free slots; then by name.
 */
import type { Phase, SessionRecord, WorkerRecord } from '../types.js';

export interface SelectionRequest {
  host: string;
  tasks: number;
  /** Workers already tried for this request (their bring-up failed). */
  exclude?: ReadonlySet<string>;
}

export type Selection =
  | { ok: true; worker: string; fallback: boolean }
  | { ok: false; /** Why no worker fits, per worker in short. */ reason: string };

/** Task slots booked on each worker. */
export function usedSlots(sessions: readonly SessionRecord[]): Map<string, number> {
  const used = new Map<string, number>();
  for (const s of sessions) used.set(s.worker, (used.get(s.worker) ?? 0) + s.tasks);
  return used;
}

function phaseRank(phase: Phase, hasSessions: boolean): number {
  if (phase === 'Working') return 0;
  if (hasSessions) return 1; // being started for another session: join it
  if (phase === 'ShutDown') return 2;
  if (phase === 'Configured') return 3;
  return 4; // Testing/Updating without sessions: a test runs; it would make us wait
}

/** Picks a worker for a session request, or says why none fits. */
export function selectWorker(
  workers: readonly WorkerRecord[],
  sessions: readonly SessionRecord[],
  req: SelectionRequest,
): Selection {
  const used = usedSlots(sessions);
  const skipped: string[] = [];
  const fits: { rec: WorkerRecord; free: number }[] = [];
  for (const rec of workers) {
    const free = rec.spec.maxConcurrentTasks - (used.get(rec.name) ?? 0);
    if (req.exclude?.has(rec.name)) skipped.push(`${rec.name}: failed its test for this request`);
    else if (!rec.spec.enabled) skipped.push(`${rec.name}: disabled`);
    else if (free < req.tasks)
      skipped.push(`${rec.name}: ${free} of ${rec.spec.maxConcurrentTasks} task slots free`);
    else fits.push({ rec, free });
  }
  const degraded = (r: WorkerRecord) =>
    r.status.conditions.some((c) => c.type === 'Degraded' && c.status === 'True') ? 1 : 0;
  fits.sort(
    (a, b) =>
      Number(a.rec.spec.host !== req.host) - Number(b.rec.spec.host !== req.host) ||
      phaseRank(a.rec.status.phase, (used.get(a.rec.name) ?? 0) > 0) -
        phaseRank(b.rec.status.phase, (used.get(b.rec.name) ?? 0) > 0) ||
      degraded(a.rec) - degraded(b.rec) ||
      b.free - a.free ||
      a.rec.name.localeCompare(b.rec.name),
  );
  const best = fits[0];
  if (best) return { ok: true, worker: best.rec.name, fallback: best.rec.spec.host !== req.host };
  if (workers.length === 0) return { ok: false, reason: 'no workers are configured' };
  return {
    ok: false,
    reason: `no enabled worker has ${req.tasks} free task slot(s): ${skipped.sort().join('; ')}`,
  };
}
