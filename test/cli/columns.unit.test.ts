/** The live table and `status` within 80 columns: columns dropped or shortened by width. */
import { expect } from 'chai';
import { statusTable } from '../../controller/cli/commands/status.js';
import { fitColumns } from '../../controller/cli/present/columns.js';
import { renderFrame } from '../../controller/cli/present/live-view.js';
import type { ControllerSnapshot } from '../../controller/loop/snapshot.js';
import type { WorkerRecord } from '../../controller/types.js';
import { makeStatus, workerRecord, workerSpec } from '../helpers/builders.js';

function rec(
  name: string,
  phase: WorkerRecord['status']['phase'],
  ready: boolean,
  over: Partial<WorkerRecord> = {},
) {
  return workerRecord(workerSpec(name, { host: 'pve-long-node-name' }), {
    vmid: 123456,
    status: makeStatus({
      phase,
      observedGeneration: 1,
      conditions: [
        {
          type: 'Ready',
          status: ready ? 'True' : 'False',
          reason: ready ? 'Converged' : 'Conflict',
          message: '',
          lastTransitionTime: '2026-01-01T00:00:00Z',
        },
      ],
      history: [
        {
          time: '2026-01-01T00:00:00Z',
          action: 'added',
          cause: `${process.cwd()}/workers/site-one/rack-three/${name}.yaml:12 @ 0123456`,
        },
      ],
    }),
    ...over,
  });
}

const records = [
  rec('pve1-worker-with-a-long-name-01', 'Configured', false),
  rec('pve2-worker-02', 'ShutDown', true),
  rec('w3', 'Working', true),
];

function widest(text: string): number {
  return Math.max(...text.split('\n').map((l) => [...l].length));
}

describe('tables that fit the terminal', () => {
  it('fitColumns drops columns in their order, then grows each toward its ideal; the flexible one takes the rest', () => {
    const cols = [
      { head: 'a', min: 10, ideal: 20 },
      { head: 'b', min: 10, ideal: 10, drop: 1 },
      { head: 'c', min: 10, ideal: Infinity },
    ];
    expect(fitColumns(cols, 34)).to.deep.equal({ shown: [0, 1, 2], widths: [10, 10, 10] });
    expect(fitColumns(cols, 40)).to.deep.equal({ shown: [0, 1, 2], widths: [16, 10, 10] });
    expect(fitColumns(cols, 60)).to.deep.equal({ shown: [0, 1, 2], widths: [20, 10, 26] });
    expect(fitColumns(cols, 30)).to.deep.equal({ shown: [0, 2], widths: [17, 10] });
  });

  it('status fits 80 columns, the phase is never cut, paths are relative to the working directory', () => {
    for (const width of [80, 100, 160]) {
      const table = statusTable(records, width);
      expect(widest(table), `width ${width}`).to.be.at.most(width);
      expect(table).to.contain('Configured');
      expect(table).not.to.contain('Configur…');
      expect(table).not.to.contain(process.cwd());
    }
    expect(statusTable(records, 160)).to.contain(' gen ');
    expect(statusTable(records, 80)).not.to.contain(' gen ');
  });

  it('the live table fits 80 columns, with the header lines cut to the width', () => {
    const snap: ControllerSnapshot = {
      startedAt: '',
      workers: records,
      queue: { ready: 12, processing: ['w3'] },
      lastLoad: {
        at: '',
        files: 120,
        workers: 300,
        invalidFiles: [`${process.cwd()}/workers/broken-file-with-a-long-name.yaml`],
        errors: 1,
        warnings: 0,
        revision: '0123456789abcdef0123456789abcdef01234567',
      },
      nextResyncAt: 100_000,
      reconciles: 12345,
      failures: 17,
      stopping: false,
    };
    for (const columns of [80, 120]) {
      const frame = renderFrame(snap, {
        title: 'workerctl run -f workers/',
        columns,
        rows: 40,
        logTail: [],
        now: 0,
      });
      expect(widest(frame), `columns ${columns}`).to.be.at.most(columns);
      expect(frame).to.contain('Configured');
      expect(frame).to.contain('at 0123456');
      expect(frame).not.to.contain(process.cwd());
    }
    const narrow = renderFrame(snap, { title: 't', columns: 80, rows: 40, logTail: [], now: 0 });
    expect(narrow.split('\n')[3]).not.to.contain('host');
    expect(renderFrame(snap, { title: 't', columns: 120, rows: 40, logTail: [], now: 0 })).to.contain('host');
  });
});
