/**
 * What the fleet page and the alert rules read, end to end (the controller with its API over the
 * simulator): GET /v1/plan, GET /v1/manifests, the manifests event on /v1/events, and the metrics
 * to alert on, through a clean fleet, a broken manifest and a conflict with a foreign VM.
 */
import { expect } from 'chai';
import type { ManifestHealthView } from '../../controller/loop/manifest-health.js';
import { eventually } from '../helpers/eventually.js';
import { LifecycleEnv } from '../helpers/lifecycle-env.js';
import { workerYaml } from '../helpers/manifests.js';

interface PlanBody {
  converged: boolean;
  actions: { worker: string; kind: string; blockedBy?: string }[];
}

/** The samples of `name` in the exposition text, as `labels value` lines. */
const samples = (text: string, name: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .sort();

describe('operator view end to end (plan, manifests, events, metrics)', function () {
  this.timeout(30_000);
  let env: LifecycleEnv;

  afterEach(async () => {
    await env?.dispose();
  });

  it('follows a clean fleet, a broken manifest (file:line:col, an event, the metrics) and a conflict', async () => {
    env = new LifecycleEnv();
    env.write('a.yaml', workerYaml('op-1'));
    env.write('b.yaml', workerYaml('op-2', { host: 'pve2' }));
    await env.start();
    await env.converged();

    const plan = await env.http<PlanBody>('GET', '/v1/plan', undefined, false);
    expect(plan.status).to.equal(200);
    expect(plan.body).to.deep.equal({ converged: true, actions: [], massDeleteBlocked: null });
    const clean = (await env.http<ManifestHealthView>('GET', '/v1/manifests', undefined, false)).body;
    expect(clean.lastLoad).to.include({ files: 2, workers: 2, errors: 0 });
    expect(clean.lastSuccessAt).to.be.a('string');
    let metrics = (await env.http<string>('GET', '/metrics')).body;
    expect(samples(metrics, 'workerctl_worker_ready')).to.deep.equal([
      'workerctl_worker_ready{worker="op-1",host="pve1"} 1',
      'workerctl_worker_ready{worker="op-2",host="pve2"} 1',
    ]);
    expect(samples(metrics, 'workerctl_worker_phase').filter((l) => l.endsWith(' 1'))).to.deep.equal([
      'workerctl_worker_phase{worker="op-1",host="pve1",phase="ShutDown"} 1',
      'workerctl_worker_phase{worker="op-2",host="pve2",phase="ShutDown"} 1',
    ]);
    expect(samples(metrics, 'workerctl_manifest_invalid_files')).to.deep.equal([
      'workerctl_manifest_invalid_files 0',
    ]);
    expect(samples(metrics, 'workerctl_manifest_info')).to.deep.equal([
      'workerctl_manifest_info{revision="unknown"} 1',
    ]);

    // A broken file: an event on the stream, its place in /v1/manifests, the metrics.
    const events = await fetch(env.url + '/v1/events');
    const reader = events.body!.getReader();
    let stream = '';
    const pump = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        stream += Buffer.from(value).toString();
      }
    })();
    env.write('b.yaml', 'apiVersion: workerctl.dev/v1\nkind: Worker\nmetadata:\n  name: op-2\nspec: [\n');
    await eventually(() => /event: manifests\ndata: .*"invalidFiles":1/.test(stream) || stream);
    await reader.cancel();
    await pump.catch(() => undefined);
    // The write is not atomic: a load may first see it empty or half-written (also invalid, at line 1).
    let broken: ManifestHealthView | undefined;
    await eventually(async () => {
      broken = (await env.http<ManifestHealthView>('GET', '/v1/manifests', undefined, false)).body;
      return broken.diagnostics[0]?.line === 6 || JSON.stringify(broken.diagnostics[0]);
    });
    broken = broken!;
    expect(broken.lastLoad!.invalidFiles).to.have.length(1);
    expect(broken.lastLoad!.invalidFiles[0]).to.match(/b\.yaml$/);
    expect(broken.diagnostics[0]).to.include({ severity: 'error', line: 6, col: 1 });
    expect(broken.diagnostics[0]!.file).to.match(/b\.yaml$/);
    // A load that fails does not move the last success (compared between two failing loads: a clean
    // reload of the first writes may still land after the first read above).
    env.write('b.yaml', 'apiVersion: workerctl.dev/v1\nkind: Worker\nmetadata:\n  name: op-2\n\nspec: [\n');
    let brokenAgain: ManifestHealthView | undefined;
    await eventually(async () => {
      brokenAgain = (await env.http<ManifestHealthView>('GET', '/v1/manifests', undefined, false)).body;
      return brokenAgain.diagnostics[0]?.line === 7 || JSON.stringify(brokenAgain.diagnostics[0]);
    });
    expect(brokenAgain!.lastSuccessAt).to.equal(broken.lastSuccessAt);
    expect(broken.lastSuccessAt! >= clean.lastSuccessAt!).to.equal(true);
    metrics = (await env.http<string>('GET', '/metrics')).body;
    expect(samples(metrics, 'workerctl_manifest_invalid_files')).to.deep.equal([
      'workerctl_manifest_invalid_files 1',
    ]);
    // Invariant 1: the file's worker keeps its last valid spec and stays Ready.
    expect(samples(metrics, 'workerctl_worker_ready')).to.include(
      'workerctl_worker_ready{worker="op-2",host="pve2"} 1',
    );

    // A foreign VM holding a new worker's name: the plan says it is blocked and why; it is counted.
    env.sim.sim.createForeignVm({ vmid: 4343, node: 'pve1', name: 'op-3', config: { cores: 2 } });
    await env.controller.resync();
    env.write('c.yaml', workerYaml('op-3'));
    await eventually(async () => {
      const p = (await env.http<PlanBody>('GET', '/v1/plan', undefined, false)).body;
      const a = p.actions.find((x) => x.worker === 'op-3');
      return (a?.kind === 'conflict' && Boolean(a.blockedBy)) || JSON.stringify(p);
    });
    await eventually(async () => {
      metrics = (await env.http<string>('GET', '/metrics')).body;
      return (
        samples(metrics, 'workerctl_conflicts')[0] === 'workerctl_conflicts 1' ||
        samples(metrics, 'workerctl_conflicts').join()
      );
    });
    expect(samples(metrics, 'workerctl_worker_ready')).to.include(
      'workerctl_worker_ready{worker="op-3",host="pve1"} 0',
    );
  });
});
