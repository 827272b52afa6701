/**
 * `workerctl test NAME`: asks the running controller to test a worker (deploy if missing, power on,
 * check through the guest agent, update, power off) and prints each check. Exit 0 when the test
 * passed, 1 when it failed or no controller answers.
 */
import type { Command } from 'commander';
import Table from 'cli-table3';
import type { TestResult } from '../../types.js';
import { apiClient, withApiOptions, type ApiOptions } from './api-options.js';
import { safeLine } from '../../terminal-text.js';

/** The test result as text lines. */
export function formatTestResult(name: string, result: TestResult): string {
  const table = new Table({ head: ['check', 'result', 'time', 'output'], style: { head: [], border: [] } });
  for (const c of result.checks) {
    const out = c.output.split('\n').slice(-3).join(' | ');
    // The output comes from the guest: shown escaped.
    table.push(
      [c.name, c.ok ? 'ok' : 'FAILED', `${(c.durationMs / 1000).toFixed(1)}s`, out.slice(0, 80)].map(
        safeLine,
      ),
    );
  }
  const verdict = result.ok ? 'passed' : `FAILED${result.error ? `: ${result.error}` : ''}`;
  return `worker ${name}: test ${safeLine(verdict)}\n${table.toString()}\n`;
}

export function register(program: Command): void {
  withApiOptions(
    program
      .command('test')
      .argument('<name>', 'the worker to test')
      .description('test a worker through the running controller: deploy, power on, check, update, power off')
      .option('-o, --output <format>', 'text or json', 'text'),
  ).action(async (name: string, opts: ApiOptions & { output: string }) => {
    const result = await apiClient(opts).test(name);
    if (opts.output === 'json')
      process.stdout.write(JSON.stringify({ worker: name, result }, null, 2) + '\n');
    else process.stdout.write(formatTestResult(name, result));
    if (!result.ok) process.exitCode = 1;
  });
}
