/**
 * The manifests' commit read from the repository's files (git's own layout), without git: a branch
 * (loose ref, packed-refs), a detached HEAD, a worktree as git-sync makes them (a `.git` file and a
 * `commondir`), a subdirectory of the checkout, and no repository at all.
 */
import { expect } from 'chai';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gitRevision, manifestRevision } from '../../controller/manifest/git-revision.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);

function write(file: string, text: string): void {
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, text);
}

describe('git revision of a manifest directory', () => {
  let tmp: { path: string; remove: () => void };
  beforeEach(() => (tmp = makeTempDir('wctl-git-')));
  afterEach(() => tmp.remove());

  it('a branch: a loose ref, else packed-refs; from a subdirectory too', async () => {
    const repo = join(tmp.path, 'repo');
    write(join(repo, '.git', 'HEAD'), 'ref: refs/heads/main\n');
    write(join(repo, '.git', 'refs', 'heads', 'main'), `${A}\n`);
    mkdirSync(join(repo, 'workers', 'site1'), { recursive: true });
    expect(await gitRevision(join(repo, 'workers', 'site1'))).to.deep.equal({ commit: A, ref: 'main' });
    write(join(repo, '.git', 'HEAD'), 'ref: refs/heads/release\n');
    write(
      join(repo, '.git', 'packed-refs'),
      `# pack-refs with: peeled fully-peeled sorted\n${B} refs/heads/release\n^${C}\n`,
    );
    expect(await gitRevision(join(repo, 'workers'))).to.deep.equal({ commit: B, ref: 'release' });
  });

  it('a git-sync worktree: a .git file, a detached HEAD, refs in the common directory; through the swapped link', async () => {
    const common = join(tmp.path, 'root', '.git');
    write(join(common, 'HEAD'), 'ref: refs/heads/main\n');
    write(join(common, 'refs', 'heads', 'main'), `${A}\n`);
    const wtGit = join(common, 'worktrees', C);
    write(join(wtGit, 'HEAD'), `${C}\n`);
    write(join(wtGit, 'commondir'), '../..\n');
    const wt = join(tmp.path, 'root', '.worktrees', C);
    write(join(wt, '.git'), `gitdir: ${wtGit}\n`);
    mkdirSync(join(wt, 'workers'));
    symlinkSync(join('.worktrees', C), join(tmp.path, 'root', 'current'));
    expect(await gitRevision(join(tmp.path, 'root', 'current', 'workers'))).to.deep.equal({ commit: C });
    // A worktree on a branch: its HEAD names the ref, which lives in the common directory.
    write(join(wtGit, 'HEAD'), 'ref: refs/heads/main\n');
    expect(await gitRevision(join(wt, 'workers'))).to.deep.equal({ commit: A, ref: 'main' });
    // A relative gitdir, as `git worktree add --relative-paths` writes it.
    write(join(wt, '.git'), `gitdir: ../../.git/worktrees/${C}\n`);
    expect(await gitRevision(wt)).to.deep.equal({ commit: A, ref: 'main' });
  });

  it('no repository, an unreadable ref or a ref loop: no revision', async () => {
    mkdirSync(join(tmp.path, 'plain'));
    expect(await manifestRevision([join(tmp.path, 'plain'), join(tmp.path, 'missing')])).to.equal(undefined);
    const repo = join(tmp.path, 'loop');
    write(join(repo, '.git', 'HEAD'), 'ref: refs/heads/a\n');
    write(join(repo, '.git', 'refs', 'heads', 'a'), 'ref: refs/heads/b\n');
    write(join(repo, '.git', 'refs', 'heads', 'b'), 'ref: refs/heads/a\n');
    expect(await gitRevision(repo)).to.equal(undefined);
    write(join(repo, '.git', 'HEAD'), 'ref: ../../../etc/passwd\n');
    expect(await gitRevision(repo)).to.equal(undefined);
  });
});
