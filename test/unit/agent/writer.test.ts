import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeCredentialSet, readCurrentSet, DATA_LINK, type SetFile, type WriterFs } from '../../../src/agent/writer.ts';
import { CertWriteError } from '../../../src/agent/errors.ts';

const set = (tag: string, extra: SetFile[] = []): SetFile[] => [
  { name: 'tls.key', data: `key-${tag}`, mode: 0o600 },
  { name: 'tls.crt', data: `crt-${tag}`, mode: 0o644 },
  ...extra,
];

async function setDirs(dir: string): Promise<string[]> {
  return (await fs.readdir(dir)).filter((e) => e.startsWith('..') && e !== DATA_LINK).sort();
}

describe('writeCredentialSet', () => {
  let dir: string;
  beforeEach(async () => {
    dir = join(await fs.mkdtemp(join(tmpdir(), 'kj-writer-')), 'out');
  });
  afterEach(async () => {
    await fs.rm(join(dir, '..'), { recursive: true, force: true });
  });

  it('writes every file behind a ..data symlink, with top-level names linking into it', async () => {
    await writeCredentialSet(dir, set('a'), { now: Date.UTC(2026, 0, 2, 3, 4, 5) });
    const target = await fs.readlink(join(dir, DATA_LINK));
    assert.match(target, /^\.\.20260102_030405\.000\./);
    assert.equal(await fs.readlink(join(dir, 'tls.key')), '..data/tls.key');
    assert.equal(await fs.readFile(join(dir, 'tls.key'), 'utf8'), 'key-a');
    assert.equal(await fs.readFile(join(dir, 'tls.crt'), 'utf8'), 'crt-a');
  });

  it('sets each mode on every write, whatever the umask', async () => {
    const old = process.umask(0o077);
    try {
      await writeCredentialSet(dir, set('a'), { now: Date.now() });
    } finally {
      process.umask(old);
    }
    assert.equal((await fs.stat(join(dir, 'tls.key'))).mode & 0o777, 0o600);
    assert.equal((await fs.stat(join(dir, 'tls.crt'))).mode & 0o777, 0o644);
  });

  it('replaces the whole set and removes the previous directory', async () => {
    await writeCredentialSet(dir, set('a'), { now: Date.now() });
    const first = await fs.readlink(join(dir, DATA_LINK));
    await writeCredentialSet(dir, set('b'), { now: Date.now() });
    const second = await fs.readlink(join(dir, DATA_LINK));
    assert.notEqual(first, second);
    assert.deepEqual(await setDirs(dir), [second]);
    assert.equal(await fs.readFile(join(dir, 'tls.key'), 'utf8'), 'key-b');
  });

  it('drops a top-level link whose file left the set (bundle.pem turned off)', async () => {
    await writeCredentialSet(dir, set('a', [{ name: 'bundle.pem', data: 'x', mode: 0o600 }]), { now: Date.now() });
    await writeCredentialSet(dir, set('b'), { now: Date.now() });
    await assert.rejects(fs.lstat(join(dir, 'bundle.pem')), { code: 'ENOENT' });
  });

  it('keeps the previous set intact and leaves no partial directory when a write fails (disk full)', async () => {
    await writeCredentialSet(dir, set('a'), { now: Date.now() });
    const before = await fs.readlink(join(dir, DATA_LINK));
    let opened = 0;
    const fullDisk: WriterFs = {
      ...fs,
      open: (async (path: string, flags: string, mode?: number) => {
        const handle = await fs.open(path, flags, mode);
        if (flags === 'wx' && ++opened === 2) {
          return Object.assign(Object.create(Object.getPrototypeOf(handle)), handle, {
            writeFile: async () => {
              throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
            },
            close: () => handle.close(),
            sync: () => handle.sync(),
            chmod: (m: number) => handle.chmod(m),
          });
        }
        return handle;
      }) as WriterFs['open'],
    };
    await assert.rejects(writeCredentialSet(dir, set('b'), { now: Date.now(), fs: fullDisk }), (err: unknown) => {
      assert.ok(err instanceof CertWriteError);
      assert.equal(err.code, 'ERR_CERT_WRITE');
      assert.equal(err.message, `writing the certificate set to ${dir} failed: ENOSPC: no space left on device, write; the previous set is intact`);
      return true;
    });
    assert.equal(await fs.readlink(join(dir, DATA_LINK)), before);
    assert.deepEqual(await setDirs(dir), [before]);
    assert.equal(await fs.readFile(join(dir, 'tls.key'), 'utf8'), 'key-a');
  });

  it('removes sets left behind by a write that crashed before its swap', async () => {
    await writeCredentialSet(dir, set('a'), { now: Date.now() });
    await fs.mkdir(join(dir, '..20200101_000000.000.crash1'));
    await writeCredentialSet(dir, set('b'), { now: Date.now() });
    assert.deepEqual(await setDirs(dir), [await fs.readlink(join(dir, DATA_LINK))]);
  });

  it('lets a reader resolve ..data once and read a consistent set', async () => {
    await writeCredentialSet(dir, set('a'), { now: Date.now() });
    const files = await readCurrentSet(dir, ['tls.key', 'tls.crt']);
    assert.equal(files?.get('tls.key')?.toString(), 'key-a');
    assert.equal(files?.get('tls.crt')?.toString(), 'crt-a');
  });
});

describe('makeDirs', () => {
  it('creates missing parents one level at a time', async () => {
    const { makeDirs } = await import('../../../src/common/fs.ts');
    const root = await fs.mkdtemp(join(tmpdir(), 'kj-mkdirs-'));
    try {
      await makeDirs(join(root, 'a', 'b', 'c'), 0o700);
      assert.equal((await fs.stat(join(root, 'a', 'b', 'c'))).mode & 0o777, 0o700);
      await makeDirs(join(root, 'a', 'b', 'c'));
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });
  it('fails (instead of spinning like recursive mkdir) where a parent cannot be made', async () => {
    const { makeDirs } = await import('../../../src/common/fs.ts');
    await assert.rejects(makeDirs('/proc/kube-join-nonexistent/state'), { code: 'ENOENT' });
  });
  it('refuses a path that is a file', async () => {
    const { makeDirs } = await import('../../../src/common/fs.ts');
    const root = await fs.mkdtemp(join(tmpdir(), 'kj-mkdirs-'));
    try {
      await fs.writeFile(join(root, 'f'), '');
      await assert.rejects(makeDirs(join(root, 'f')), { code: 'ENOTDIR', message: `${join(root, 'f')} exists and is not a directory` });
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });
});
