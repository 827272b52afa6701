/**
 * Issue 11 point 3: what a manifest author or a Proxmox answer puts in a key or a value reaches no
 * terminal raw (escape sequences, C1 controls, bidirectional overrides, forged newlines), in every
 * output: the validate report, plan, the live view's table and log lines, text and JSON logs. And
 * redaction masks secrets, not ordinary words that share a secret's name.
 */
import { expect } from 'chai';
import { Writable } from 'node:stream';
import { formatJson, formatText, formatGithub } from '../../controller/cli/present/validate-report.js';
import { formatDiagnostics, formatPlan } from '../../controller/cli/present/plan-output.js';
import { renderFrame } from '../../controller/cli/present/live-view.js';
import {
  formatBlockerErrors,
  formatBlockers,
  formatPlanGithub,
  formatPlanMarkdown,
  formatPlanTable,
  type PlanReport,
} from '../../controller/cli/present/plan-report.js';
import { structured } from '../../controller/cli/output.js';
import { statusTable } from '../../controller/cli/commands/status.js';
import { createLogger } from '../../controller/log.js';
import { loadManifestSource } from '../../controller/manifest/load.js';
import { MASK, redact, redactText } from '../../controller/redact.js';
import type { Plan } from '../../controller/reconcile/contracts.js';
import { makeRecord, makeStatus } from '../helpers/builders.js';

const ESC = '\u001b';
/** A terminal acts on these. */
// eslint-disable-next-line no-control-regex
const RAW = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
const HOSTILE = `x${ESC}]0;pwned\u0007${ESC}[2J\u009b31m\u202eevil`;

function capture(format: 'json' | 'text'): { log: ReturnType<typeof createLogger>; text: () => string } {
  let written = '';
  const stream = new Writable({
    write(chunk, _enc, cb) {
      written += String(chunk);
      cb();
    },
  });
  return { log: createLogger({ format, stream, level: 'debug' }), text: () => written };
}

describe('hostile text in outputs (issue 11 point 3)', () => {
  it('validate: a key and a value with escape sequences are shown escaped, in text, github and json', () => {
    const yaml = [
      'apiVersion: workerctl.dev/v1',
      'kind: Worker',
      `metadata: {name: "bad${ESC}[31mname"}`,
      'spec:',
      '  host: pve1',
      '  template: t',
      '  storage: local-lvm',
      `  "cpus${ESC}[2J": 4`,
      '  networks: [{bridge: vmbr0, ipv4: dhcp}]',
      '',
    ].join('\n');
    const result = loadManifestSource('/m/w.yaml', yaml);
    expect(result.diagnostics.length).to.be.greaterThan(0);
    const readSource = () => yaml;
    for (const out of [
      formatText(result, { readSource }),
      formatGithub(result),
      formatJson(result),
      formatDiagnostics(result.diagnostics),
    ]) {
      expect(out).not.to.match(RAW);
      expect(out).to.match(/\\x1b\[|\\u001b\[/);
    }
  });

  it('plan: reasons and names from Proxmox or manifests are escaped; a value cannot forge a line', () => {
    const plan: Plan = {
      converged: false,
      actions: [
        {
          worker: 'w1',
          kind: 'configure',
          class: 'live',
          reason: `name ${HOSTILE} -> w1\nw2: delete [destructive] forged`,
          changes: [],
          blockedBy: HOSTILE,
        },
      ],
    };
    const out = formatPlan(plan, 120);
    expect(out).not.to.match(RAW);
    expect(out.split('\n').some((l) => l.startsWith('w2: delete'))).to.equal(false);
  });

  it('plan for pull requests: markdown, github annotations, the table and the blockers; json and yaml of every command', () => {
    const report: PlanReport = {
      plan: {
        converged: false,
        actions: [
          {
            worker: `w1${HOSTILE}`,
            kind: 'conflict',
            class: 'none',
            reason: `vm 777 is named ${HOSTILE}`,
            changes: [],
            blockedBy: HOSTILE,
          },
        ],
      },
      diagnostics: [
        {
          file: `workers/${HOSTILE}.yaml`,
          line: 1,
          col: 1,
          pointer: '',
          severity: 'error',
          code: 'yaml.syntax',
          message: HOSTILE,
        },
      ],
      sources: { [`w1${HOSTILE}`]: { file: `workers/${HOSTILE}.yaml`, line: 2, col: 1 } },
      blocked: [{ worker: 'w1', reason: 'Conflict', message: HOSTILE, fix: `rename ${HOSTILE}` }],
      revision: { commit: '0'.repeat(40), ref: HOSTILE },
      against: 'the controller at http://127.0.0.1:1',
    };
    const outs = [
      formatPlanMarkdown(report),
      formatPlanGithub(report),
      formatPlanTable(report, 80),
      formatBlockers(report.blocked),
      formatBlockerErrors(report.blocked),
      structured('json', report)!,
      structured('yaml', report)!,
      statusTable([makeRecord(`w${HOSTILE}`, { status: makeStatus() })], 80),
    ];
    for (const out of outs) {
      expect(out).not.to.match(RAW);
      // yaml writes ESC as \e inside double quotes.
      expect(out).to.match(/\\x1b|\\u001b|\\e/);
    }
    // Escaped, the value is still the same value.
    expect((JSON.parse(structured('json', { v: HOSTILE })!) as { v: string }).v).to.equal(HOSTILE);
  });

  it('live view: the table and the log tail show escaped text', () => {
    const rec = makeRecord('w1', {
      status: makeStatus({ history: [{ time: '2026-01-01T00:00:00Z', action: HOSTILE, cause: HOSTILE }] }),
    });
    const frame = renderFrame(
      {
        startedAt: '',
        workers: [rec],
        queue: { ready: 0, processing: [] },
        reconciles: 0,
        failures: 0,
        stopping: false,
        lastLoad: {
          at: '',
          files: 1,
          workers: 1,
          invalidFiles: [`/m/${HOSTILE}.yaml`],
          errors: 1,
          warnings: 0,
        },
      },
      { title: 't', columns: 200, rows: 40, logTail: [`log ${HOSTILE}`], now: 0 },
    );
    expect(frame).not.to.match(RAW);
    expect(frame).to.contain('\\x1b');
  });

  it('logs: pretty lines are one line with escapes; JSON lines keep the value and escape C1 and bidi too', () => {
    const pretty = capture('text');
    pretty.log.warn('invalid manifest', { detail: `a\nb ${HOSTILE}` });
    expect(pretty.text().trimEnd().split('\n')).to.have.length(1);
    expect(pretty.text().trimEnd()).not.to.match(RAW);
    const json = capture('json');
    json.log.warn('invalid manifest', { detail: HOSTILE });
    const line = json.text().trimEnd();
    expect(line).not.to.match(RAW);
    expect((JSON.parse(line) as { detail: string }).detail).to.equal(HOSTILE);
  });

  it('redaction masks secrets, not ordinary words that share a secret name', () => {
    expect(redactText('yaml: unexpected token: }')).to.equal('yaml: unexpected token: }');
    expect(redactText('backup token: nightly')).to.equal('backup token: nightly');
    expect(redactText('the bearer token of its writes')).to.equal('the bearer token of its writes');
    expect(redactText('Authorization: Bearer 9f2c1e7a-b3')).to.equal(`Authorization: Bearer ${MASK}`);
    expect(redactText('password=hunter2 secret: Pa55w0rd-x')).to.equal(`password=${MASK} secret: ${MASK}`);
    const out = redact({
      spec: { labels: { token: 'blue', secret: 'none' }, updates: { proxy: { passwordFile: '/m/pass' } } },
      ticketQueue: 'q1',
      tokens: 3,
      apiToken: 'abc',
      auth: { password: 'p', 'x-auth-token': 't', CSRFPreventionToken: 'c', api_key: 'k' },
    });
    expect(out).to.deep.equal({
      spec: { labels: { token: 'blue', secret: 'none' }, updates: { proxy: { passwordFile: '/m/pass' } } },
      ticketQueue: 'q1',
      tokens: 3,
      apiToken: MASK,
      auth: { password: MASK, 'x-auth-token': MASK, CSRFPreventionToken: MASK, api_key: MASK },
    });
  });
});
