import { expect } from 'chai';
import { Writable } from 'node:stream';
import { createLogger } from '../../controller/log.js';
import { LiveView, renderFrame } from '../../controller/cli/present/live-view.js';
import type { ControllerSnapshot } from '../../controller/loop/snapshot.js';
import type { WorkerRecord } from '../../controller/types.js';

function rec(name: string, ready: boolean, extra: Partial<WorkerRecord> = {}): WorkerRecord {
  return {
    name,
    spec: { name, host: 'pve1' } as WorkerRecord['spec'],
    specHash: 'h',
    generation: 1,
    status: {
      phase: ready ? 'ShutDown' : 'Configured',
      conditions: [
        {
          type: 'Ready',
          status: ready ? 'True' : 'False',
          reason: ready ? 'Converged' : 'Cloning',
          message: '',
          lastTransitionTime: '2026-01-01T00:00:00Z',
        },
      ],
      observedGeneration: ready ? 1 : 0,
      sessions: [],
      history: [{ time: '2026-01-01T00:00:00Z', action: 'cloned', cause: 'spec generation 1' }],
    },
    ...extra,
  };
}

function snap(workers: WorkerRecord[]): ControllerSnapshot {
  return {
    startedAt: '2026-01-01T00:00:00Z',
    workers,
    queue: { ready: 2, processing: ['w-b'] },
    lastLoad: {
      at: '',
      files: 3,
      workers: workers.length,
      invalidFiles: ['/m/bad.yaml'],
      errors: 1,
      warnings: 0,
    },
    reconciles: 7,
    failures: 1,
    stopping: false,
  };
}

describe('live view', () => {
  it('draws not-Ready workers first, marks the ones in flight, and says what was kept', () => {
    const frame = renderFrame(snap([rec('w-a', true, { vmid: 101 }), rec('w-b', false)]), {
      title: 'workerctl run',
      columns: 120,
      rows: 40,
      logTail: ['12:00:00 info vm cloned'],
      now: 0,
    });
    const lines = frame.split('\n');
    expect(lines[1]).to.match(/2 workers, 1 Ready \| queue 2 \(1 in flight\) \| 7 reconciles \(1 failed\)/);
    expect(lines[2]).to.match(/1 invalid \(last valid spec kept\): \/m\/bad\.yaml/);
    const b = lines.findIndex((l) => l.includes('* w-b'));
    const a = lines.findIndex((l) => l.includes('w-a'));
    expect(b).to.be.greaterThan(0);
    expect(b).to.be.lessThan(a);
    expect(lines[a]).to.match(/101 .*ShutDown .*True .*cloned \(spec generation 1\)/);
    expect(lines.at(-1)).to.equal('12:00:00 info vm cloned');
  });

  it('fits a big fleet into the terminal and says how many are hidden', () => {
    const workers = Array.from({ length: 100 }, (_, i) => rec(`w-${i}`, i % 10 !== 0));
    const frame = renderFrame(snap(workers), { title: 't', columns: 100, rows: 24, logTail: [], now: 0 });
    expect(frame.split('\n').length).to.be.at.most(24);
    expect(frame).to.match(/\.\.\. and \d+ more \(\d+ Ready\)/);
    expect(frame).to.contain('w-0 ');
  });

  it('off a terminal, logs one line per worker change and a fleet summary, and nothing when unchanged', () => {
    const lines: string[] = [];
    const stream = new Writable({
      write: (c: Buffer, _e, cb) => {
        lines.push(...c.toString().split('\n').filter(Boolean));
        cb();
      },
    });
    const logger = createLogger({ format: 'json', stream });
    const view = new LiveView({ out: stream, tty: false, title: 't', logger });
    let workers = [rec('w-a', false)];
    view.attach(() => snap(workers));
    view.draw();
    view.draw();
    workers = [rec('w-a', true, { vmid: 5 })];
    view.draw();
    view.close();
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const workerLines = parsed.filter((p) => p.message === 'worker');
    expect(workerLines.map((p) => p.ready)).to.deep.equal(['False', 'True']);
    expect(workerLines[1]).to.include({ worker: 'w-a', vmid: 5, phase: 'ShutDown' });
    expect(parsed.filter((p) => p.message === 'fleet')).to.have.length(2);
  });
});
