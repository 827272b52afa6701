/**
 * `workerctl test NAME... | -l SELECTOR`: asks the running controller to test workers (deploy if
 * missing, power on, check through the guest agent, update, power off), one after another, and
 * prints each check. Exit 0 when every test passed, 1 when one failed or no controller answers.
 */
import type { Command } from 'commander';
import Table from 'cli-table3';
import { UsageError } from '../../errors.js';
import { matchesSelector, parseSelector } from '../../selector.js';
import type { TestResult } from '../../types.js';
import { selectorOption } from '../command-support.js';
import { examples } from '../help.js';
import { outputOption, printStructured } from '../output.js';
import { apiClient, withApiOptions, type ApiOptions } from './api-options.js';
import { safeLine } from '../../terminal-text.js';

/** The test result as text lines. */
export function formatTestResult(name: string, result: TestResult): string {
  const table = new Table({ head: ['check', 'result', 'time', 'output'], style: { head: [], border: [] } });
  for (const c of result.checks) {
    const out = c.output.split('\n').slice(-3).join(' | ');
    // The output comes from the guest: shown escaped.
    table.push(
      [c.name, c.ok ? 'ok' : 'FAILED', `${(c.durationMs / 1000).toFixed(1)}s`, out.slice(0, 50)].map(
        safeLine,
      ),
    );
  }
  const verdict = result.ok ? 'passed' : `FAILED${result.error ? `: ${result.error}` : ''}`;
  return `worker ${safeLine(name)}: test ${safeLine(verdict)}\n${table.toString()}\n`;
}

type TestFlags = ApiOptions & { output: string; selector?: string[] };

export function register(program: Command): void {
  withApiOptions(
    program
      .command('test')
      .argument('[names...]', 'the workers to test (or -l)')
      .description('test workers through the running controller: deploy, power on, check, update, power off')
      .addOption(outputOption())
      .addOption(selectorOption())
      .addHelpText(
        'after',
        examples([
          ['workerctl test pve1-worker-01', 'one worker, each check with its time and output'],
          ['workerctl test -l site=dc1 -o json', 'every worker labelled site=dc1, one after another'],
        ]),
      ),
  ).action(async (names: string[], flags: TestFlags) => {
    const selector = parseSelector(flags.selector);
    if (names.length === 0 && !selector)
      throw new UsageError('test: name a worker, or select workers with -l');
    const client = apiClient(flags);
    let targets = names;
    if (selector) {
      const records = await client.records();
      const picked = records.filter((r) => matchesSelector(selector, r.spec.labels)).map((r) => r.name);
      targets = names.length > 0 ? names.filter((n) => picked.includes(n)) : picked;
      if (targets.length === 0) throw new UsageError(`test: no worker matches ${selector.text}`);
    }
    const results: { worker: string; result: TestResult }[] = [];
    for (const name of targets) {
      const result = await client.test(name);
      results.push({ worker: name, result });
      if (flags.output === 'table') process.stdout.write(formatTestResult(name, result));
    }
    const single = names.length === 1 && !selector ? results[0] : undefined;
    printStructured(flags.output, single ?? { tests: results });
    if (results.some((r) => !r.result.ok)) process.exitCode = 1;
  });
}
