/**
 * Reloads after a manifest change merge only what changed (reconcile/intake.ts, partial merge); the
 * first load and every resync merge the whole fleet, so a record nothing declares is found there
 * whatever the reloads looked at. The real watcher, loader, LowdbStore and reconcile core against the
 * simulator over HTTP.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { E2eEnv } from '../helpers/app-env.js';
import { makeRecord } from '../helpers/builders.js';
import { eventually } from '../helpers/eventually.js';
import { onDemandYaml } from '../helpers/manifests.js';
import type { LoadedEvent } from '../../controller/loop/controller.js';

describe('partial reloads, full resyncs', function () {
  this.timeout(30_000);
  let env: E2eEnv;

  afterEach(async () => {
    await env?.dispose();
  });

  async function startWith(partialLoads: boolean) {
    env = new E2eEnv({ settings: { resyncIntervalMs: 0, removalSettleMs: 0 } });
    env.write('a.yaml', onDemandYaml('pr-a1') + '---\n' + onDemandYaml('pr-a2'));
    env.write('b.yaml', onDemandYaml('pr-b1'));
    await env.start();
    env.controller.partialLoads = partialLoads;
    // A record no manifest declares, written behind the intake's back (as a database restored from
    // before its manifest was deleted would hold).
    await env.store.seedWorker(
      makeRecord('pr-stray', { source: { file: join(env.manifests, 'old.yaml'), line: 1, col: 1 } }),
    );
    const loads: LoadedEvent[] = [];
    env.controller.on('loaded', (e) => loads.push(e));
    return loads;
  }

  const strayMarked = () => {
    const rec = env.record('pr-stray');
    return rec === undefined || rec.removeRequestedAt !== undefined;
  };

  it('a reload merges the edited worker only; the next resync finds the undeclared record', async () => {
    const loads = await startWith(true);
    env.write('a.yaml', onDemandYaml('pr-a1', { cpus: 3 }) + '---\n' + onDemandYaml('pr-a2'));
    await eventually(() => loads.length > 0 || 'no reload');
    expect(loads[0]!.changed).to.deep.equal(['pr-a1']);
    expect(env.record('pr-a1')!.spec.cpus).to.equal(3);
    expect(strayMarked(), 'the reload looked at the edited file only').to.equal(false);
    await env.controller.resync();
    await eventually(() => strayMarked() || 'the stray record is still declared');
    expect(env.record('pr-a2')!.removeRequestedAt).to.equal(undefined);
    expect(env.record('pr-b1')!.removeRequestedAt).to.equal(undefined);
  });

  it('with partial loads off a reload merges the whole fleet', async () => {
    const loads = await startWith(false);
    env.write('b.yaml', onDemandYaml('pr-b1', { cpus: 3 }));
    await eventually(() => loads.length > 0 || 'no reload');
    expect(loads[0]!.changed).to.deep.equal(['pr-b1']);
    await eventually(() => strayMarked() || 'the stray record is still declared');
  });
});
