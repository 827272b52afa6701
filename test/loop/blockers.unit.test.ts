import { expect } from 'chai';
import { findBlockers, isStuck } from '../../controller/loop/blockers.js';
import type { Plan, PlannedAction } from '../../controller/reconcile/contracts.js';
import type { Condition } from '../../controller/types.js';
import { makeStatus, workerRecord, workerSpec } from '../helpers/builders.js';

const act = (
  worker: string,
  kind: PlannedAction['kind'],
  over: Partial<PlannedAction> = {},
): PlannedAction => ({
  worker,
  kind,
  class: 'live',
  reason: `${kind} ${worker}`,
  changes: [],
  ...over,
});
const plan = (actions: PlannedAction[], over: Partial<Plan> = {}): Plan => ({
  actions,
  converged: false,
  ...over,
});
const cond = (type: Condition['type'], status: Condition['status'], reason: string): Condition => ({
  type,
  status,
  reason,
  message: `${reason} message`,
  lastTransitionTime: '2026-01-01T00:00:00Z',
});

describe('blockers: what only a person can fix', () => {
  it('a conflict by name is blocked with the adopt fix; by a tagged vm, with the recover fix', () => {
    const report = findBlockers(
      plan([
        act('w1', 'conflict', {
          blockedBy: 'Conflict: x',
          conflict: { kind: 'name', vmid: 777, node: 'pve1', tagged: false },
        }),
        act('w2', 'conflict', {
          blockedBy: 'Conflict: x',
          conflict: { kind: 'name', vmid: 101, node: 'pve2', tagged: true },
        }),
      ]),
    );
    expect(isStuck(report)).to.equal(true);
    expect(report.blocked.map((b) => [b.worker, b.reason])).to.deep.equal([
      ['w1', 'Conflict'],
      ['w2', 'Conflict'],
    ]);
    expect(report.blocked[0]!.fix).to.contain('workerctl adopt w1 --vmid 777');
    expect(report.blocked[1]!.fix).to.contain('workerctl recover');
  });

  it('work that goes on by itself is progressing: a create, a wait for sessions, a locked vm', () => {
    const report = findBlockers(
      plan([
        act('w1', 'conflict', { blockedBy: 'Conflict: x' }),
        act('w2', 'create'),
        act('w3', 'wait', { blockedBy: 'waiting for 1 session to end' }),
      ]),
    );
    expect(report.progressing).to.deep.equal(['w2', 'w3']);
    expect(isStuck(report)).to.equal(false);
  });

  it('a refused disk shrink, the mass-delete guard and an invalid manifest are blocked', () => {
    const spec = workerSpec('w1');
    const report = findBlockers(
      plan(
        [act('w1', 'resize', { class: 'destructive', blockedBy: 'DiskShrinkRefused: a disk cannot shrink' })],
        {
          massDeleteBlocked: { wouldDelete: 3, of: 3, threshold: 'more than 50%' },
        },
      ),
      {
        records: [workerRecord(spec, { source: { file: '/m/w.yaml', line: 4, col: 1 } })],
        diagnostics: [
          {
            file: '/m/bad.yaml',
            line: 2,
            col: 3,
            pointer: '',
            severity: 'error',
            code: 'yaml.syntax',
            message: 'bad',
          },
          {
            file: '/m/bad.yaml',
            line: 5,
            col: 1,
            pointer: '',
            severity: 'error',
            code: 'yaml.syntax',
            message: 'worse',
          },
          {
            file: '/m/ok.yaml',
            line: 1,
            col: 1,
            pointer: '',
            severity: 'warning',
            code: 'semantic.x',
            message: 'meh',
          },
        ],
        display: (f) => f.replace('/m/', ''),
      },
    );
    expect(report.blocked.map((b) => b.reason)).to.deep.equal([
      'DiskShrinkRefused',
      'MassDeleteGuard',
      'InvalidManifest',
    ]);
    expect(report.blocked[0]!.fix).to.contain('(w.yaml:4)');
    expect(report.blocked[1]!.fix).to.contain('--allow-mass-delete');
    expect(report.blocked[2]!.message).to.equal('bad.yaml:2:3: bad');
    expect(isStuck(report)).to.equal(true);
  });

  it('with useStatus, a worker whose last reconcile stopped for good is blocked though the plan still has work', () => {
    const spec = workerSpec('w1', { template: 'gone' });
    const stopped = workerRecord(spec, {
      status: makeStatus({
        conditions: [
          cond('Ready', 'False', 'TemplateNotFound'),
          cond('Reconciling', 'False', 'TemplateNotFound'),
        ],
        lastError: 'template gone not found in the cluster',
      }),
    });
    const retrying = workerRecord(workerSpec('w2'), {
      status: makeStatus({
        conditions: [cond('Ready', 'False', 'Transient'), cond('Reconciling', 'True', 'Retrying')],
      }),
    });
    const p = plan([act('w1', 'create'), act('w2', 'create')]);
    expect(
      isStuck(findBlockers(p, { records: [stopped, retrying] })),
      'a plan alone trusts no old verdict',
    ).to.equal(false);
    const report = findBlockers(p, { records: [stopped, retrying], useStatus: true });
    expect(report.blocked).to.deep.equal([
      {
        worker: 'w1',
        reason: 'TemplateNotFound',
        message: 'template gone not found in the cluster',
        fix: 'create the template gone in the cluster, or change spec.template',
      },
    ]);
    expect(report.progressing).to.deep.equal(['w2']);
    const alone = findBlockers(plan([act('w1', 'create')]), { records: [stopped], useStatus: true });
    expect(isStuck(alone)).to.equal(true);
  });

  it('a create refused at plan time (no deploy path, no template) is blocked with what it says to change', () => {
    const report = findBlockers(
      plan([
        act('w5', 'create', {
          blockedBy: 'NoDeployPath: worker w5: storage fast does not exist on pve3; set spec.storage',
        }),
      ]),
    );
    expect(report.blocked).to.deep.equal([
      {
        worker: 'w5',
        reason: 'NoDeployPath',
        message: 'worker w5: storage fast does not exist on pve3; set spec.storage',
        fix: 'change the manifest, or the cluster, as said',
      },
    ]);
    expect(isStuck(report)).to.equal(true);
  });

  it('a converged plan has nothing blocked', () => {
    expect(findBlockers({ actions: [], converged: true }).blocked).to.deep.equal([]);
  });
});
