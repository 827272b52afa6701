/**
 * The root hook in test/helpers/open-handles.ts: a suite whose tests leave a server listening still
 * ends, names the server, and keeps mocha's result as its exit code.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../controller/paths.js';
import { makeTempDir } from './helpers/temp-dir.js';

const MOCHA = join(packageRoot, 'node_modules', 'mocha', 'bin', 'mocha.js');
const HOOK = join(packageRoot, 'dist', 'test', 'helpers', 'open-handles.js');

function runLeakySuite(failing: boolean) {
  const tmp = makeTempDir();
  try {
    const spec = join(tmp.path, 'leaky.spec.mjs');
    writeFileSync(
      spec,
      `import net from 'node:net';
it('leaves a server listening', (done) => { net.createServer().listen(0, '127.0.0.1', () => done()); });
it('${failing ? 'fails' : 'passes'}', () => { if (${failing}) throw new Error('boom'); });
`,
    );
    return spawnSync(process.execPath, [MOCHA, '--no-config', '--require', HOOK, spec], {
      cwd: tmp.path,
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, OPEN_HANDLES_GRACE_MS: '300' },
    });
  } finally {
    tmp.remove();
  }
}

describe('test harness: open handles after the last test', () => {
  it('ends a suite held by a leaked server, names it, and exits 0 when every test passed', () => {
    const r = runLeakySuite(false);
    expect(r.signal, r.stderr).to.equal(null);
    expect(r.status, r.stdout + r.stderr).to.equal(0);
    expect(r.stderr).to.match(/open-handles: the process was still held/);
    expect(r.stderr).to.match(/open-handles: {3}Server \{"address":"127\.0\.0\.1"/);
  });

  it("keeps mocha's failure count as the exit code", () => {
    const r = runLeakySuite(true);
    expect(r.signal, r.stderr).to.equal(null);
    expect(r.status, r.stdout + r.stderr).to.equal(1);
    expect(r.stderr).to.match(/open-handles: the process was still held/);
  });
});
