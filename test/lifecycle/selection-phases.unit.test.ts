import { expect } from 'chai';
import { IllegalTransitionError, canTransition, transition } from '../../controller/lifecycle/phases.js';
import { setCondition } from '../../controller/reconcile/status.js';
import type { HistoryEntry } from '../../controller/types.js';
import { selectWorker } from '../../controller/lifecycle/selection.js';
import { updateInvocation } from '../../controller/lifecycle/updates.js';
import type { Phase, SessionRecord, WorkerRecord } from '../../controller/types.js';
import { record } from '../helpers/lifecycle-fakes.js';

function withPhase(rec: WorkerRecord, phase: Phase, degraded = false): WorkerRecord {
  const conditions = degraded
    ? [
        {
          type: 'Degraded' as const,
          status: 'True' as const,
          reason: 'X',
          message: '',
          lastTransitionTime: '',
        },
      ]
    : [];
  return { ...rec, status: { ...rec.status, phase, conditions } };
}

function session(worker: string, tasks: number): SessionRecord {
  return {
    id: `s-${worker}-${tasks}`,
    worker,
    host: 'pve1',
    kind: 'backup',
    tasks,
    fallback: false,
    createdAt: '',
    leaseExpiresAt: '',
    leaseMs: 1000,
  };
}

describe('lifecycle: worker selection (pure)', () => {
  const cases: {
    name: string;
    workers: WorkerRecord[];
    sessions?: SessionRecord[];
    host?: string;
    tasks?: number;
    exclude?: string[];
    want: { worker: string; fallback: boolean } | RegExp;
  }[] = [
    {
      name: 'same host first',
      workers: [record('b', { host: 'pve2' }), record('a')],
      want: { worker: 'a', fallback: false },
    },
    {
      name: 'another host when the asked one has no room (fallback)',
      workers: [record('a', { maxConcurrentTasks: 2 }), record('b', { host: 'pve2' })],
      sessions: [session('a', 2)],
      want: { worker: 'b', fallback: true },
    },
    {
      name: 'never a disabled worker',
      workers: [record('a', { enabled: false }), record('b', { host: 'pve2' })],
      want: { worker: 'b', fallback: true },
    },
    {
      name: 'a Working worker before a powered-off one (reuse a running VM)',
      workers: [withPhase(record('a'), 'ShutDown'), withPhase(record('b'), 'Working')],
      sessions: [session('b', 1)],
      want: { worker: 'b', fallback: false },
    },
    {
      name: 'a deployed worker before one that must be deployed',
      workers: [withPhase(record('a'), 'Configured'), withPhase(record('b'), 'ShutDown')],
      want: { worker: 'b', fallback: false },
    },
    {
      name: 'healthy before Degraded',
      workers: [withPhase(record('a'), 'ShutDown', true), withPhase(record('b'), 'ShutDown')],
      want: { worker: 'b', fallback: false },
    },
    {
      name: 'tasks must fit in the free slots',
      workers: [record('a', { maxConcurrentTasks: 4 })],
      sessions: [session('a', 3)],
      tasks: 2,
      want: /no enabled worker has 2 free task slot\(s\): a: 1 of 4 task slots free/,
    },
    {
      name: 'excluded workers (failed their test) are skipped',
      workers: [record('a')],
      exclude: ['a'],
      want: /a: failed its test/,
    },
    { name: 'no workers at all', workers: [], want: /no workers are configured/ },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const got = selectWorker(tc.workers, tc.sessions ?? [], {
        host: tc.host ?? 'pve1',
        tasks: tc.tasks ?? 1,
        exclude: new Set(tc.exclude ?? []),
      });
      if (tc.want instanceof RegExp) {
        expect(got.ok).to.equal(false);
        expect((got as { reason: string }).reason).to.match(tc.want);
      } else expect(got).to.deep.equal({ ok: true, ...tc.want });
    });
  }
});

describe('lifecycle: phases', () => {
  it('records every change with its cause and refuses illegal ones', () => {
    const steps: [Phase, string, string][] = [
      ['Testing', 'test requested', 't1'],
      ['Updating', 'updates enabled', 't2'],
      ['Working', 'session s-1 started', 't3'],
      ['Working', 'session s-2 started', 't4'],
      ['ShutDown', 'last session ended', 't5'],
    ];
    let phase: Phase = 'Configured';
    const history: HistoryEntry[] = [];
    for (const [to, cause, time] of steps) {
      const entry = transition(phase, to, cause, time);
      if (entry) history.push(entry);
      phase = to;
    }
    expect(history).to.deep.equal([
      { time: 't1', action: 'phase Configured -> Testing', cause: 'test requested' },
      { time: 't2', action: 'phase Testing -> Updating', cause: 'updates enabled' },
      { time: 't3', action: 'phase Updating -> Working', cause: 'session s-1 started' },
      { time: 't5', action: 'phase Working -> ShutDown', cause: 'last session ended' },
    ]);
    expect(() => transition('Configured', 'Working', 'x', 't')).to.throw(IllegalTransitionError);
    expect(canTransition('Configured', 'Updating')).to.equal(false);
    expect(canTransition('ShutDown', 'Testing')).to.equal(true);
  });

  it('a condition keeps its transition time while its status stays', () => {
    let c = setCondition([], 'Degraded', 'True', 'AgentCheckFailed', 'a', 't1');
    c = setCondition(c, 'Degraded', 'True', 'NetworkCheckFailed', 'b', 't2');
    expect(c[0]).to.include({ reason: 'NetworkCheckFailed', lastTransitionTime: 't1' });
    c = setCondition(c, 'Degraded', 'False', 'TestPassed', '', 't3');
    expect(c[0]!.lastTransitionTime).to.equal('t3');
  });
});

describe('lifecycle: update command', () => {
  it('runs the Rocky Linux default as is without a proxy', async () => {
    expect(await updateInvocation(undefined)).to.deep.equal({
      command: ['dnf', '-y', 'upgrade', '--refresh'],
    });
  });
  it('passes a proxy without credentials on stdin and shows only host:port', async () => {
    const inv = await updateInvocation({ host: 'proxy.lan', port: 3128 }, ['apt-get', 'upgrade', '-y']);
    expect(inv.inputData).to.equal('http://proxy.lan:3128\n');
    expect(inv.command.slice(-3)).to.deep.equal(['apt-get', 'upgrade', '-y']);
    expect(inv.proxyDisplay).to.equal('proxy.lan:3128');
  });
  it('names the password file it cannot read', async () => {
    let err: Error | undefined;
    await updateInvocation({ host: 'p', port: 80, username: 'u', passwordFile: '/nonexistent/pw' }).catch(
      (e: Error) => (err = e),
    );
    expect(err?.message).to.equal('unable to read the proxy password file /nonexistent/pw: ENOENT');
  });
});
