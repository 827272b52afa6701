/**
 * examples/observability/: the Prometheus alert rules (promtool check rules, and their unit tests
 * with promtool test rules), the scrape config (promtool check config), and the Grafana dashboard
 * (valid JSON whose queries use only metrics workerctl exports). promtool comes with Debian's
 * prometheus package; without it those tests are skipped with a message.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ControllerMetrics } from '../../controller/api/metrics.js';
import { examplesDir } from '../../controller/paths.js';

const DIR = join(examplesDir, 'observability');

/** Every metric name workerctl exports (histograms with their _bucket, _sum, _count series), and up. */
async function exportedNames(): Promise<Set<string>> {
  const text = await new ControllerMetrics().text();
  const names = new Set<string>(['up']);
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(m[1]!);
    if (m[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m[1]! + s);
  }
  return names;
}

/** The metric names a PromQL expression reads (ours, the process and Node ones, and up). */
function metricsIn(expr: string): string[] {
  return [
    ...expr.matchAll(
      /\b(workerctl_[a-z0-9_]+|process_[a-z0-9_]+|nodejs_[a-z0-9_]+|up)\b(?!\s*(?:=[^=]|!=|=~|\())/g,
    ),
  ].map((m) => m[1]!);
}

/** Runs promtool, or skips the test saying why. */
function promtool(ctx: Mocha.Context, args: string[]) {
  const res = spawnSync('promtool', args, { cwd: DIR, encoding: 'utf8', timeout: 60_000 });
  if ((res.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    console.log("      (skipped: promtool not found; install Debian's prometheus package to run it)");
    ctx.skip();
  }
  return res;
}

describe('examples/observability', function () {
  this.timeout(60_000);

  it('the alert rules use only metrics workerctl exports, and cover what must be alerted on', async () => {
    const names = await exportedNames();
    const doc = parseYaml(readFileSync(join(DIR, 'alerts.yml'), 'utf8')) as {
      groups: { rules: { alert: string; expr: string; for?: string }[] }[];
    };
    const rules = doc.groups.flatMap((g) => g.rules);
    for (const r of rules) {
      const used = metricsIn(r.expr);
      expect(used, r.alert).to.not.be.empty;
      for (const n of used) expect(names.has(n), `${r.alert}: ${n}`).to.equal(true);
    }
    const byName = Object.fromEntries(rules.map((r) => [r.alert, r]));
    expect(byName.WorkerctlWorkerNotReady).to.include({ expr: 'workerctl_worker_ready == 0', for: '15m' });
    for (const a of [
      'WorkerctlManifestsInvalid',
      'WorkerctlMassDeleteHeldBack',
      'WorkerctlProxmoxErrorsRising',
    ])
      expect(byName, a).to.have.property(a);
  });

  it('promtool check rules and check config accept them', function () {
    const rules = promtool(this, ['check', 'rules', 'alerts.yml']);
    expect(rules.status, rules.stdout + rules.stderr).to.equal(0);
    expect(rules.stdout).to.match(/SUCCESS: 7 rules found/);
    const config = promtool(this, ['check', 'config', 'prometheus.yml']);
    expect(config.status, config.stdout + config.stderr).to.equal(0);
  });

  it('promtool test rules: each alert fires when it should and not before', function () {
    const res = promtool(this, ['test', 'rules', 'alerts.test.yml']);
    expect(res.status, res.stdout + res.stderr).to.equal(0);
    expect(res.stdout).to.match(/SUCCESS/);
    // Every alert has a test.
    const tests = readFileSync(join(DIR, 'alerts.test.yml'), 'utf8');
    const alerts = readFileSync(join(DIR, 'alerts.yml'), 'utf8').match(/alert: (\w+)/g) ?? [];
    for (const a of alerts) expect(tests, a).to.include(`alertname: ${a.slice('alert: '.length)}`);
  });

  it('the Grafana dashboard is valid JSON; every query uses metrics workerctl exports', async () => {
    const names = await exportedNames();
    const dash = JSON.parse(readFileSync(join(DIR, 'grafana-dashboard.json'), 'utf8')) as {
      uid: string;
      panels: {
        id: number;
        type: string;
        title: string;
        targets?: { expr: string; datasource: { uid: string } }[];
      }[];
      templating: { list: { name: string; type: string }[] };
    };
    expect(dash.uid).to.equal('workerctl');
    expect(dash.templating.list.map((v) => `${v.name}:${v.type}`)).to.include('datasource:datasource');
    const ids = dash.panels.map((p) => p.id);
    expect(new Set(ids).size).to.equal(ids.length);
    const used = new Set<string>();
    for (const p of dash.panels.filter((x) => x.type !== 'row')) {
      expect(p.targets, p.title).to.not.be.empty;
      for (const t of p.targets!) {
        expect(t.datasource.uid, p.title).to.equal('${datasource}');
        const metrics = metricsIn(t.expr);
        expect(metrics, `${p.title}: ${t.expr}`).to.not.be.empty;
        for (const n of metrics) {
          expect(names.has(n), `${p.title}: ${n}`).to.equal(true);
          used.add(n);
        }
      }
    }
    for (const n of [
      'workerctl_worker_ready',
      'workerctl_manifest_invalid_files',
      'workerctl_deletions_held_back',
    ])
      expect(used.has(n), n).to.equal(true);
  });
});
