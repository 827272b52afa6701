// Reads a mocha JSON report, prints each failure and the "N passed, N failed" counts.
import { readFileSync } from 'node:fs';

const [file, label] = process.argv.slice(2);
let report;
try {
  report = JSON.parse(readFileSync(file, 'utf8'));
} catch {
  console.log(`${label}: no report (mocha did not finish)`);
  console.log('0 1');
  process.exit(0);
}
for (const f of report.failures ?? []) {
  console.log(
    `FAILED ${f.fullTitle}\n  ${String(f.err?.message ?? '')
      .split('\n')
      .slice(0, 6)
      .join('\n  ')}`,
  );
}
console.log(
  `${label}: ${report.stats.passes} passed, ${report.stats.failures} failed, ${report.stats.pending} pending (${report.stats.duration} ms)`,
);
console.log(`${report.stats.passes} ${report.stats.failures}`);
