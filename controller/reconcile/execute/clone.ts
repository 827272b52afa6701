/**
 * The first step of a deploy (the `create` action): the clone of the worker's template along the
 * path the plan chose (deploy-path.ts). The vmid reservation, the deploy's path and steps and the
 * clone intent (with the template's id: the clone task's id in its node's task list) go to disk in
 * one durable write right before the call (invariant 4), after the worker's name was checked against
 * a fresh listing (invariant 3). The later steps (deploy.ts) each have their own intent.
 */
import { isoNow } from '../../clock.js';
import { AlreadyExistsError, NotFoundError, TaskFailedError } from '../../errors.js';
import type { DeployPath } from '../../types.js';
import { desiredDescription } from '../desired-config.js';
import { stepsOf } from '../deploy-path.js';
import { causeOf } from '../plan.js';
import type { WorkerRun } from '../worker-run.js';
import { CLONE_WAIT_MS, type Mutations } from './mutation.js';
import { assertNameFree } from './name-check.js';

export interface CloneOptions {
  path: DeployPath;
  signal: AbortSignal;
}

/** Clones the template as the path says; resolves once the clone task succeeded (deploy.ts goes on). */
export async function cloneVm(m: Mutations, run: WorkerRun, opts: CloneOptions): Promise<void> {
  const { client } = m.deps;
  const { signal, path } = opts;
  const spec = run.rec.spec;
  const tpl = path.template;
  const description = desiredDescription(spec, run.rec.uid ?? run.name);
  const cause = run.history.length === 0 ? causeOf(run.rec) : 'redeploy';
  for (let attempt = 0; ; attempt++) {
    let vmid: number | undefined;
    try {
      // Slots first, then the vmid: the reservation and the clone intent go to disk in ONE durable
      // write right before the call (invariant 4). The clone task runs on the template's node and
      // copies onto the clone storage there (shared: one pool for the cluster).
      // Waiting for a slot (anything beyond this turn), this deploy stops holding up the listing the
      // other deploys' name checks share (fresh-listing.ts).
      const waiting = setImmediate(() => m.listings.release(run.name));
      const release = await m
        .acquire(
          { node: tpl.node, storage: path.cloneStorage, clone: true, shared: await cloneShared(m, path) },
          signal,
        )
        .finally(() => clearImmediate(waiting));
      try {
        // A VM named like the worker may have appeared since the pass's listing (invariant 3).
        const listing = await m.listings.get(run.name);
        await assertNameFree(client, listing, run.rec, () => recordedVmids(run));
        vmid = await m.deps.allocator.allocate(
          async (id) => {
            run.rec.vmid = id;
            run.rec.node = path.cloneNode;
            run.rec.deployed = undefined;
            run.rec.leftover = undefined;
            run.rec.deploy = { path, steps: stepsOf(path) };
            run.rec.intent = {
              op: 'clone',
              node: tpl.node,
              vmid: id,
              source: tpl.vmid,
              startedAt: isoNow(m.deps.clock),
            };
            await run.persist();
          },
          run.rec.vmid,
          new Set(listing.map((r) => r.vmid)),
        );
        const newid = vmid;
        await m.call(run, {
          op: 'clone',
          call: () =>
            client.clone(tpl.node, tpl.vmid, {
              newid,
              name: spec.name,
              description,
              full: true,
              storage: path.cloneStorage,
              ...(path.cloneNode !== tpl.node ? { target: path.cloneNode } : {}),
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
        if (run.rec.intent?.op === 'clone' && !run.rec.intent.upid) {
          run.rec.intent = undefined;
          run.rec.deploy = undefined;
        }
        throw err;
      }
      if (err instanceof AlreadyExistsError && attempt < 3) {
        // Someone took the id between our assert and the clone: allocate again.
        run.log.info('vmid taken before the clone, allocating again', { vmid });
        run.rec.vmid = undefined;
        run.rec.deploy = undefined;
        await run.persist();
        continue;
      }
      if (err instanceof TaskFailedError) await cloneFailed(m, run, vmid, err.exitStatus);
      throw err;
    }
    await cloneSucceeded(run);
    run.log.info('vm cloned', { vmid, node: path.cloneNode, template: tpl.vmid });
    run.note(
      'cloned',
      `${cause}: from ${spec.template} to ${path.cloneStorage} on ${path.cloneNode} as vm ${vmid}`,
    );
    return;
  }
}

async function cloneShared(m: Mutations, path: DeployPath): Promise<boolean> {
  return path.kind === 'target' || path.kind === 'target-move'
    ? true
    : m.scopes.isShared(path.template.node, path.cloneStorage);
}

/**
 * The clone task succeeded: its step is done and the intent cleared, in one write that is not
 * waited for: lost in a crash, the intent's UPID leads resume.ts to the same succeeded task, and the
 * next step's durable write carries it (writes go out in order).
 */
export function cloneSucceeded(run: WorkerRun): Promise<void> {
  const steps = run.rec.deploy?.steps ?? [];
  if (steps[0] === 'clone') steps.shift();
  run.rec.intent = undefined;
  run.persist().catch((err: unknown) => run.log.warn('recording a finished clone not written yet', { err }));
  return Promise.resolve();
}

/**
 * The clone task ended without success. PVE removes what it created when the task fails
 * (clone_vm: "clone failed: ..." after vdisk_free and unlink), but not when the task died (killed,
 * node reboot): then a temporary config with `lock: clone` stays. What is left at the vmid is
 * recorded as ours by this clone's intent (leftover), for the plan to remove; without one the
 * reservation stays and the next plan clones again.
 */
export async function cloneFailed(m: Mutations, run: WorkerRun, vmid: number, how: string): Promise<void> {
  const intent = run.rec.intent;
  const node = run.rec.deploy?.path.template.node ?? intent?.node ?? run.rec.node ?? run.rec.spec.host;
  let at: string | undefined;
  for (const candidate of new Set([node, run.rec.node ?? node])) {
    try {
      await m.deps.client.getConfig(candidate, vmid);
      at = candidate;
      break;
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
  }
  run.rec.intent = undefined;
  run.rec.deploy = undefined;
  if (at !== undefined) {
    run.rec.leftover = { vmid, node: at, ...(intent?.upid ? { upid: intent.upid } : {}), reason: how };
    run.rec.node = at;
    run.note('clone failed', `vm ${vmid} left on ${at} by a clone that ended with: ${how}`);
  } else {
    run.note('clone failed', how);
  }
  await run.persist();
}

/** The vmids our records hold. */
function recordedVmids(run: WorkerRun): Set<number> {
  return new Set(run.store.listWorkers().flatMap((r) => (r.vmid === undefined ? [] : [r.vmid])));
}
