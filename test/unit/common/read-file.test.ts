import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileReadError, readFailure, readUserFile } from '../../../src/common/read-file.ts';

describe('readUserFile: a file the user named, or one line saying why not', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kj-read-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a missing file: FileReadError ERR_FILE_READ naming what, where and ENOENT', async () => {
    await assert.rejects(readUserFile(join(dir, 'nope.yaml'), 'token file'), (err: unknown) => {
      assert.ok(err instanceof FileReadError);
      assert.equal(err.code, 'ERR_FILE_READ');
      assert.equal(err.errno, 'ENOENT');
      assert.equal(err.path, join(dir, 'nope.yaml'));
      assert.equal(err.message, `token file ${join(dir, 'nope.yaml')} does not exist (ENOENT)`);
      return true;
    });
  });

  it('a directory: EISDIR in words', async () => {
    await assert.rejects(readUserFile(dir, 'token file'), { code: 'ERR_FILE_READ', message: `token file ${dir} is a directory (EISDIR)` });
  });

  it('words for the errnos a user can act on, the errno itself for the rest', () => {
    const errno = (code: string) => Object.assign(new Error(code), { code });
    assert.equal(readFailure('config file', '/c.yaml', errno('EACCES')), 'config file /c.yaml is not readable by this process (EACCES)');
    assert.equal(readFailure('config file', '/c.yaml', errno('EIO')), 'config file /c.yaml cannot be read (EIO)');
  });
});
