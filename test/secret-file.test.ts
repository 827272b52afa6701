/**
 * A proxy's passwordFile at use time (issue 11 point 2): the file is checked again each time it is
 * read, since it may have changed after the manifest was validated (a later commit replaces it by a
 * symlink to the controller's own secrets, or by a FIFO or a huge file).
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../controller/errors.js';
import { manifestRoots, readSecretFile } from '../controller/secret-file.js';
import { makeTempDir } from './helpers/temp-dir.js';

describe('password files at use time', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let outside: ReturnType<typeof makeTempDir>;
  let repo: string;
  beforeEach(() => {
    tmp = makeTempDir();
    outside = makeTempDir();
    repo = join(tmp.path, 'repo');
    mkdirSync(join(repo, 'secrets'), { recursive: true });
    writeFileSync(join(repo, 'secrets', 'pw'), 'S3cret-pass\n');
    writeFileSync(join(outside.path, 'token'), 'root@pam!x=uuid\n');
  });
  afterEach(() => {
    tmp.remove();
    outside.remove();
  });

  const refused = async (file: string, roots: string[] | undefined): Promise<string> => {
    const err = await readSecretFile(file, roots).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err, file).to.be.instanceOf(ConfigError);
    return err!.message;
  };

  it('reads a regular file inside the manifest directory; refuses what was swapped in after validation', async () => {
    const roots = await manifestRoots([repo]);
    const pw = join(repo, 'secrets', 'pw');
    expect(await readSecretFile(pw, roots)).to.equal('S3cret-pass\n');
    // The same path, now a symlink to the controller's secrets.
    rmSync(pw);
    symlinkSync(join(outside.path, 'token'), pw);
    expect(await refused(pw, roots)).to.contain('outside the manifest directory');
    // A FIFO would block a plain read for ever.
    rmSync(pw);
    execFileSync('mkfifo', [pw]);
    expect(await refused(pw, roots)).to.contain('not a regular file');
    rmSync(pw);
    writeFileSync(pw, 'x'.repeat(5000));
    expect(await refused(pw, roots)).to.contain('larger than 4096 bytes');
    expect(await refused('/proc/self/environ', roots)).to.contain('outside the manifest directory');
    // Without roots (callers outside the controller), the other rules still hold.
    expect(await refused('/dev/zero', undefined)).to.contain('not a regular file');
  });

  it('follows a manifest root that is itself a symlink (a checkout swapped atomically)', async () => {
    const link = join(tmp.path, 'current');
    symlinkSync(repo, link);
    const roots = await manifestRoots([link]);
    expect(await readSecretFile(join(link, 'secrets', 'pw'), roots)).to.equal('S3cret-pass\n');
    writeFileSync(join(repo, 'w.yaml'), '');
    expect(await manifestRoots([join(link, 'w.yaml')])).to.deep.equal(roots);
  });
});
