/**
 * `make bench`: runs every bench/*.bench.ts (compiled to dist/bench/*.bench.js) in its own Node
 * process, one after another, so one benchmark's heap never skews the next. Pass names to run a
 * subset: `node dist/bench/run.js validate`.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.js'))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();

let failed = 0;
for (const file of files) {
  process.stdout.write(`\n=== ${file.replace('.bench.js', '')} ===\n`);
  const res = spawnSync(process.execPath, ['--expose-gc', join(here, file)], { stdio: 'inherit' });
  if (res.status !== 0) failed++;
}
process.stdout.write(`\n${files.length - failed} benchmark(s) ran, ${failed} failed\n`);
process.exitCode = failed ? 1 : 0;
