/**
 * The command line as a whole: every command shows examples in --help, the commands that print a
 * result take one `-o table|json|yaml` (plus their own formats), the same flag name means the same
 * thing everywhere (old names parse as hidden aliases), and a usage error exits 1.
 */
import { expect } from 'chai';
import type { Command } from 'commander';
import { buildProgram, runCli } from '../../controller/cli/program.js';
import { commandTree } from '../../controller/cli/present/completion-scripts.js';

function all(cmd: Command, path: string[] = []): [string, Command][] {
  return cmd.commands.flatMap((c) => [
    [[...path, c.name()].join(' '), c] as [string, Command],
    ...all(c, [...path, c.name()]),
  ]);
}

function helpOf(cmd: Command): string {
  let out = '';
  cmd.configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) });
  cmd.outputHelp();
  return out;
}

describe('the command line', () => {
  const program = buildProgram();

  it('every command has examples in --help', () => {
    expect(all(program).length).to.be.greaterThan(12);
    for (const [name, cmd] of all(program))
      expect(helpOf(cmd), name).to.match(/\nExamples:\n {2}\$ .*workerctl /);
  });

  it('every command that prints a result takes -o with table, json and yaml', () => {
    // Groups of sub-commands (session, state) print nothing themselves; run and completion print no result.
    const without = new Set(['session', 'state', 'run', 'completion']);
    for (const [name, cmd] of all(program)) {
      if (without.has(name)) continue;
      const o = cmd.options.find((x) => x.long === '--output');
      expect(o, name).to.not.equal(undefined);
      expect(o!.short, name).to.equal('-o');
      expect(o!.argChoices, name).to.include.members(['table', 'json', 'yaml']);
      expect(o!.defaultValue, name).to.equal('table');
    }
    const formats = (n: string) =>
      all(program)
        .find(([name]) => name === n)![1]
        .options.find((x) => x.long === '--output')!;
    expect(formats('plan').argChoices).to.include.members(['markdown', 'github']);
    expect(formats('validate').argChoices).to.include('github');
  });

  it('one name for one thing: the old names are hidden aliases that still parse', async () => {
    const cmd = (n: string) => all(program).find(([name]) => name === n)![1];
    for (const n of ['plan', 'apply', 'run']) {
      const longs = cmd(n).options.map((o) => o.long);
      expect(longs, n).to.include.members(['--latency', '--time-scale', '--grace', '--filename']);
      for (const old of ['--sim-latency', '--sim-time-scale'])
        expect(cmd(n).options.find((o) => o.long === old)!.hidden, `${n} ${old}`).to.equal(true);
    }
    expect(cmd('simulator').options.map((o) => o.long)).to.include.members(['--latency', '--time-scale']);
    for (const n of ['apply', 'run']) {
      expect(cmd(n).options.find((o) => o.long === '--no-progress')!.hidden, n).to.not.equal(true);
      expect(cmd(n).options.find((o) => o.long === '--no-view')!.hidden, n).to.equal(true);
    }
    expect(cmd('validate').options.find((o) => o.long === '--format')!.hidden).to.equal(true);
    for (const n of ['plan', 'apply', 'status', 'test'])
      expect(cmd(n).options.find((o) => o.long === '--selector')!.short, n).to.equal('-l');
    // A hidden alias never shows in help or completion.
    expect(helpOf(cmd('run'))).not.to.contain('--sim-latency');
    const run = commandTree(program).find((c) => c.path.join(' ') === 'run')!;
    expect(run.options.flatMap((o) => o.names)).not.to.include('--no-view');
  });

  it('a usage error exits 1: 2 is reserved for "changes pending"', async () => {
    const stderr = process.stderr.write;
    process.stderr.write = () => true;
    try {
      expect(await runCli(['plan', '--bogus'])).to.equal(1);
      expect(await runCli(['validate', '-o', 'xml', 'examples/'])).to.equal(1);
      expect(await runCli(['nosuchcommand'])).to.equal(1);
      expect(await runCli(['completion', 'tcsh'])).to.equal(1);
    } finally {
      process.stderr.write = stderr;
    }
  });
});
