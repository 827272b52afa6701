import { expect } from 'chai';
import {
  formatPlanGithub,
  formatPlanMarkdown,
  markdownCell,
  planExitCode,
  planReportData,
  type PlanReport,
} from '../../controller/cli/present/plan-report.js';

function report(over: Partial<PlanReport> = {}): PlanReport {
  return {
    plan: {
      converged: false,
      actions: [
        {
          worker: 'w1',
          kind: 'create',
          class: 'live',
          reason: 'clone worker-template | to local-lvm',
          changes: [],
        },
        {
          worker: 'w2',
          kind: 'conflict',
          class: 'none',
          reason: 'vm 777 is named w2\nbut is not ours \u001b[31m',
          changes: [],
          blockedBy: 'Conflict: a foreign vm clashes',
        },
      ],
    },
    diagnostics: [],
    sources: {
      w1: { file: 'workers/a.yaml', line: 5, col: 1 },
      w2: { file: 'workers/a.yaml', line: 20, col: 1 },
    },
    blocked: [
      {
        worker: 'w2',
        reason: 'Conflict',
        message: 'vm 777 is named w2',
        fix: 'workerctl adopt w2 --vmid 777',
      },
    ],
    revision: { commit: '0123456789abcdef0123456789abcdef01234567', ref: 'main' },
    against: 'the controller at http://ctl:8080',
    ...over,
  };
}

describe('plan output for pull requests and CI', () => {
  it('exit codes as terraform plan -detailed-exitcode: 0 nothing, 2 changes, 1 errors and blocked work', () => {
    expect(planExitCode(report({ blocked: [] }))).to.equal(2);
    expect(planExitCode(report())).to.equal(1);
    expect(planExitCode(report({ plan: { actions: [], converged: true }, blocked: [] }))).to.equal(0);
    const invalid = report({
      plan: { actions: [], converged: true },
      blocked: [],
      diagnostics: [
        {
          file: 'a.yaml',
          line: 1,
          col: 1,
          pointer: '',
          severity: 'error',
          code: 'yaml.syntax',
          message: 'x',
        },
      ],
    });
    expect(planExitCode(invalid)).to.equal(1);
  });

  it('markdown: a summary heading, one table row per action, the blockers with their fix; cells cannot break the table', () => {
    const md = formatPlanMarkdown(report());
    const lines = md.split('\n');
    expect(lines[0]).to.equal('### workerctl plan: 1 to create, 1 conflict (2 workers).');
    expect(md).to.contain('manifests at `0123456`');
    expect(md).to.contain('(main)');
    const rows = lines.filter((l) => l.startsWith('| '));
    expect(rows).to.have.length(3);
    expect(rows[1]).to.contain('clone worker-template \\| to local-lvm');
    expect(rows[2]).to.contain('vm 777 is named w2<br>but is not ours \\x1b[31m');
    expect(md).not.to.contain('\u001b');
    expect(md).to.match(/- `w2` \*\*Conflict\*\*: vm 777 is named w2<br>fix: workerctl adopt w2 --vmid 777/);
    expect(markdownCell('<script>&')).to.equal('&lt;script&gt;&amp;');
  });

  it('github: blockers as errors and actions as notices at the line that declares the worker', () => {
    const lines = formatPlanGithub(report()).trim().split('\n');
    expect(lines[0]).to.equal(
      '::error file=workers/a.yaml,line=20,col=1,title=workerctl plan%3A blocked%3A Conflict::w2: vm 777 is named w2%0Afix: workerctl adopt w2 --vmid 777',
    );
    expect(lines[1]).to.match(
      /^::notice file=workers\/a.yaml,line=5,col=1,title=workerctl plan%3A w1 create \[live\]::clone/,
    );
    expect(lines.at(-1)).to.match(/^Plan: /);
  });

  it('json: the plan, each action with its source, the blockers and the commit', () => {
    const data = planReportData(report()) as {
      actions: { source: string }[];
      blocked: unknown[];
      revision: unknown;
    };
    expect(data.actions.map((a) => a.source)).to.deep.equal(['workers/a.yaml:5:1', 'workers/a.yaml:20:1']);
    expect(data.blocked).to.have.length(1);
    expect(data.revision).to.deep.include({ ref: 'main' });
  });
});
