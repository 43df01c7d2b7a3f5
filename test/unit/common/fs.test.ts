import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../../../src/common/fs.ts';

describe('writeFileAtomic', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kj-fs-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('replaces a file in an existing directory with the mode asked, leaving no temporary file', async () => {
    await writeFileAtomic(join(dir, 'a.json'), 'one', 0o600);
    await writeFileAtomic(join(dir, 'a.json'), 'two', 0o640);
    assert.equal(await readFile(join(dir, 'a.json'), 'utf8'), 'two');
    assert.equal((await stat(join(dir, 'a.json'))).mode & 0o777, 0o640);
    assert.deepEqual(await readdir(dir), ['a.json']);
  });

  it('makes missing directories first', async () => {
    await writeFileAtomic(join(dir, 'x', 'y', 'b.txt'), 'deep', 0o644);
    assert.equal(await readFile(join(dir, 'x', 'y', 'b.txt'), 'utf8'), 'deep');
  });

  it('fails naming the path when a parent is a file', async () => {
    await writeFileAtomic(join(dir, 'f'), 'file', 0o644);
    await assert.rejects(writeFileAtomic(join(dir, 'f', 'c.txt'), 'x', 0o644), { code: 'ENOTDIR' });
  });
});
