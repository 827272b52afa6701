/**
 * Cloning a worker's VM from its template (the `create` action): the template and storage are
 * checked, the vmid reserved and the clone intent written in one durable write right before the
 * call (invariant 4), the worker's name checked against a fresh listing (invariant 3); then the
 * clone is finished (owner tag, what it was cloned from). A failed clone is cleaned up.
 */
import { isoNow } from '../../clock.js';
import {
  AlreadyExistsError,
  ConflictError,
  NotFoundError,
  TaskFailedError,
  TemplateNotFoundError,
  TerminalError,
} from '../../errors.js';
import type { VmResource } from '../../proxmox/types.js';
import type { WorkerRecord } from '../../types.js';
import { desiredDescription, desiredTags } from '../desired-config.js';
import { diskStorage, normalizeTags } from '../normalize.js';
import { markerMatches } from '../ownership.js';
import { causeOf } from '../plan.js';
import type { WorkerRun } from '../worker-run.js';
import { CLONE_WAIT_MS, type Mutations } from './mutation.js';
import { assertNameFree } from './name-check.js';
import { destroyVm } from './remove.js';

/**
 * A clone whose UPID was never recorded (crash right after the call) and whose VM is still locked
 * this long after the intent was written is taken for dead (a generous bound: a full clone of a big
 * image on slow storage takes minutes, not half an hour).
 */
export const CLONE_ABANDON_MS = 30 * 60_000;

/** The template VM a spec names (a vmid or a name), preferring one on the worker's host. */
export function findTemplate(resources: readonly VmResource[], spec: WorkerRecord['spec']): VmResource {
  const t = spec.template;
  const byId = typeof t === 'number' || /^\d+$/.test(t);
  const found = resources
    .filter((r) => r.template && (byId ? r.vmid === Number(t) : r.name === t))
    .sort((a, b) => (a.node === spec.host ? 0 : 1) - (b.node === spec.host ? 0 : 1) || a.vmid - b.vmid);
  if (!found[0]) throw new TemplateNotFoundError(`template ${t} not found in the cluster`);
  return found[0];
}

export interface CloneOptions {
  /** The pass's listing (to find the template). */
  resources: readonly VmResource[];
  signal: AbortSignal;
}

/** Clones, finishes and records the worker's VM. */
export async function cloneVm(m: Mutations, run: WorkerRun, opts: CloneOptions): Promise<void> {
  const { client } = m.deps;
  const { signal } = opts;
  const spec = run.rec.spec;
  const tpl = findTemplate(opts.resources, spec);
  const storages = await client.storages(spec.host, { content: 'images' });
  m.scopes.learn(spec.host, storages);
  const target = storages.find((s) => s.storage === spec.storage);
  if (!target) {
    throw new TerminalError(`storage ${spec.storage} does not exist on ${spec.host} or holds no vm images`);
  }
  if (tpl.node !== spec.host) await checkSharedTemplate(m, tpl, spec.host);
  const description = desiredDescription(spec, run.rec.uid ?? run.name);
  for (let attempt = 0; ; attempt++) {
    const cause = run.history.length === 0 ? causeOf(run.rec) : 'redeploy';
    let vmid: number | undefined;
    try {
      // Slots first, then the vmid: the reservation and the clone intent go to disk in ONE
      // durable write right before the call (invariant 4), and the intent's start time is the
      // call's, not the time spent queueing for a slot (resume.ts judges a lost clone by it).
      const release = await m.acquire(
        { node: spec.host, storage: spec.storage, clone: true, shared: target.shared },
        signal,
      );
      try {
        // A VM named like the worker may have appeared since the pass's listing (invariant 3).
        await assertNameFree(client, run.rec, () => recordedVmids(run));
        vmid = await m.deps.allocator.allocate(async (id) => {
          run.rec.vmid = id;
          run.rec.node = spec.host;
          run.rec.intent = { op: 'clone', node: spec.host, vmid: id, startedAt: isoNow(m.deps.clock) };
          await run.persist();
        }, run.rec.vmid);
        const newid = vmid;
        await m.call(run, {
          op: 'clone',
          call: () =>
            client.clone(tpl.node, tpl.vmid, {
              newid,
              name: spec.name,
              description,
              full: true,
              storage: spec.storage,
              ...(tpl.node !== spec.host ? { target: spec.host } : {}),
            }),
          signal,
          waitMs: CLONE_WAIT_MS,
          keepIntent: true,
        });
      } finally {
        release();
      }
    } catch (err) {
      if (vmid === undefined) {
        // The reservation's write failed (or the wait for a slot was aborted): no call was made.
        if (run.rec.intent?.op === 'clone' && !run.rec.intent.upid) run.rec.intent = undefined;
        throw err;
      }
      if (err instanceof AlreadyExistsError && attempt < 3) {
        // Someone took the id between our assert and the clone: allocate again.
        run.log.info('vmid taken before the clone, allocating again', { vmid });
        run.rec.vmid = undefined;
        await run.persist();
        continue;
      }
      if (err instanceof TaskFailedError) await cleanupFailedClone(m, run, vmid, signal);
      throw err;
    }
    await finishClone(m, run, vmid, signal);
    run.log.info('vm cloned', { vmid, node: spec.host, template: tpl.vmid });
    run.note('cloned', `${cause}: from ${spec.template} to ${spec.storage} on ${spec.host} as vm ${vmid}`);
    return;
  }
}

/**
 * A template on another node can only be cloned there (clone `target`) when all its disks are on
 * shared storage; otherwise PVE refuses ("VM uses local storage"), which no retry fixes.
 */
async function checkSharedTemplate(m: Mutations, tpl: VmResource, host: string): Promise<void> {
  const { client } = m.deps;
  const cfg = await client.getConfig(tpl.node, tpl.vmid);
  const shared = new Set((await client.storages(tpl.node)).filter((s) => s.shared).map((s) => s.storage));
  const local = Object.entries(cfg.values)
    .filter(
      ([k, v]) => /^(scsi|virtio|sata|ide|efidisk|tpmstate)\d+$/.test(k) && v !== 'none' && !/^none,/.test(v),
    )
    .map(([, v]) => diskStorage(v))
    .filter((st): st is string => st !== undefined && !shared.has(st));
  if (local.length > 0) {
    throw new TerminalError(
      `template ${tpl.vmid} is on ${tpl.node} with disks on local storage (${[...new Set(local)].join(', ')}); ` +
        `it cannot be cloned to ${host}: put a copy of the template on ${host} or on shared storage`,
    );
  }
}

/**
 * The last step of a clone, still under the clone intent: put our owner tag on the new VM (after
 * checking our marker), record what it was cloned from, clear the intent. Idempotent, so resume.ts
 * can run it again after a crash at any point.
 */
export async function finishClone(
  m: Mutations,
  run: WorkerRun,
  vmid: number,
  signal: AbortSignal,
): Promise<void> {
  const { client, settings } = m.deps;
  const spec = run.rec.spec;
  const node = run.rec.node ?? spec.host;
  const release = await m.deps.slots.acquire({ node }, signal);
  try {
    const cfg = await client.getConfig(node, vmid);
    if (!markerMatches(run.rec, cfg.values)) {
      throw new ConflictError(`vm ${vmid} does not carry our marker after the clone; leaving it alone`);
    }
    const tags = desiredTags(settings.ownerTag);
    if (normalizeTags(cfg.values.tags ?? '') !== normalizeTags(tags)) {
      // Still under the clone's intent (written before the clone was sent).
      await client.updateConfig(node, vmid, { set: { tags }, digest: cfg.digest });
    }
  } finally {
    release();
  }
  run.rec.deployed = { template: spec.template, storage: spec.storage, host: spec.host };
  run.rec.intent = undefined;
  await run.persist();
}

/**
 * After a failed clone: PVE normally removes what it created; if a VM with our marker is left at
 * the vmid, delete it (unlocking it first). When that fails too, the reservation stays and the
 * next plan sees the half clone (ownership 'half') and removes it before cloning again.
 */
export async function cleanupFailedClone(
  m: Mutations,
  run: WorkerRun,
  vmid: number,
  signal: AbortSignal,
): Promise<void> {
  const node = run.rec.node ?? run.rec.spec.host;
  run.rec.intent = undefined;
  await run.persist();
  try {
    const vm = (await m.deps.client.vmResources()).find((r) => r.vmid === vmid);
    if (vm) {
      await destroyVm(m, run, { vm, signal });
      run.note('half-cloned vm deleted', `clone of vm ${vmid} failed`);
    }
  } catch (err) {
    if (!(err instanceof NotFoundError)) {
      run.log.warn('cleanup of a failed clone failed; will retry', { vmid, node, err });
      return;
    }
  }
  run.rec.vmid = undefined;
  run.rec.node = undefined;
  await run.persist();
}

/** The vmids our records hold. */
function recordedVmids(run: WorkerRun): Set<number> {
  return new Set(run.store.listWorkers().flatMap((r) => (r.vmid === undefined ? [] : [r.vmid])));
}
