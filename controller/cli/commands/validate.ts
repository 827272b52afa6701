/**
 * `workerctl validate PATH...`: checks Worker manifests and reports every problem in every file at
 * file:line:col. Exit 0 when everything is valid (warnings allowed), 1 when anything is not or on a
 * usage error (no path, a path that does not exist, an unknown format).
 */
import { Option, type Command } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { UsageError } from '../../errors.js';
import { loadManifests } from '../../manifest/load.js';
import { readManifestFileSync } from '../../manifest/read.js';
import { REPORT_FORMATS, formatReport, type ReportFormat } from '../present/validate-report.js';
import { normalizeFormat, outputOption } from '../output.js';
import { examples } from '../help.js';

interface ValidateOptions {
  output: string;
  format?: string;
}

/**
 * The text of a diagnosed file, for the excerpt under its message. A diagnostic may name what the
 * loader refused to read (a link to /dev/zero, a FIFO, a huge file): the loader's own read (regular
 * files within its size limit, opened non-blocking) decides, so a file swapped for a FIFO since the
 * load cannot hang validate either.
 */
function readSource(file: string): string | undefined {
  try {
    if (!statSync(file).isFile()) return undefined;
  } catch {
    return undefined;
  }
  const read = readManifestFileSync(file);
  return 'bytes' in read ? Buffer.from(read.bytes).toString('utf8') : undefined;
}

/** Runs validate; returns the exit code. */
export async function runValidate(paths: string[], opts: ValidateOptions): Promise<number> {
  const format = normalizeFormat(opts.format ?? opts.output, REPORT_FORMATS) as ReportFormat;
  if (paths.length === 0) throw new UsageError('validate needs at least one manifest file or directory');
  const missing = paths.filter((p) => !existsSync(p));
  if (missing.length > 0) throw new UsageError(`no such file or directory: ${missing.join(', ')}`);
  const result = await loadManifests(paths);
  process.stdout.write(formatReport(result, format, { readSource }));
  return result.diagnostics.some((d) => d.severity === 'error') ? 1 : 0;
}

/** Adds `validate` to the program. */
export function register(program: Command): void {
  program
    .command('validate')
    .description('check Worker manifests (files or directories) and report every problem at file:line:col')
    .argument('[paths...]', 'manifest files or directories (walked recursively for *.yaml, *.yml)')
    .addOption(outputOption(['github']))
    // The old name of -o, kept for existing workflows.
    .addOption(new Option('--format <format>', 'same as --output').hideHelp())
    .addHelpText(
      'after',
      examples([
        ['workerctl validate workers/', 'every problem in every file, at file:line:col'],
        ['workerctl validate -o github workers/', 'GitHub Actions annotations on the pull request'],
        ['workerctl validate -o json examples/ | jq .summary', 'for machines'],
      ]),
    )
    .action(async (paths: string[], opts: ValidateOptions) => {
      process.exitCode = await runValidate(paths, opts);
    });
}
