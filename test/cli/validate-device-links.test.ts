/**
 * validate prints an excerpt of each diagnosed file: a diagnostic about a link to a device or a FIFO
 * must not make it read that (a link to /dev/zero used to abort the process: std::bad_alloc).
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../controller/paths.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { workerDoc, yamlDocs } from '../helpers/manifests.js';

const main = join(packageRoot, 'dist', 'controller', 'main.js');

describe('spec: workerctl validate with links to devices in the manifest directory', () => {
  for (const [name, target] of [
    ['zero', '/dev/zero'],
    ['zero.yaml', '/dev/zero'],
    ['urandom.yml', '/dev/urandom'],
  ] as const) {
    it(`reports ${name} -> ${target} as a link out of the directory and exits 1, without reading it`, () => {
      const tmp = makeTempDir();
      try {
        writeFileSync(join(tmp.path, 'w.yaml'), yamlDocs(workerDoc('w')));
        symlinkSync(target, join(tmp.path, name));
        const r = spawnSync(process.execPath, [main, 'validate', '.'], {
          cwd: tmp.path,
          encoding: 'utf8',
          timeout: 20_000,
        });
        expect(r.signal, r.stderr).to.equal(null);
        expect(r.status, r.stderr).to.equal(1);
        expect(r.stdout).to.contain(
          `${name}:1:1: error: ${name} is a symbolic link out of the manifest directory`,
        );
      } finally {
        tmp.remove();
      }
    });
  }
});
