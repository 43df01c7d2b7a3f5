import { open, rename, unlink, mkdir, stat } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * `mkdir -p`, one level at a time. Node's own recursive mkdir never returns when a parent cannot be
 * created but answers ENOENT (e.g. under /proc): it retries forever at full CPU. Here such a parent is
 * an error naming the path.
 */
export async function makeDirs(path: string, mode = 0o755, mkdirFn: (p: string, o: { mode: number }) => Promise<unknown> = mkdir): Promise<void> {
  try {
    await mkdirFn(path, { mode });
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      if (!(await stat(path)).isDirectory()) throw Object.assign(new Error(`${path} exists and is not a directory`), { code: 'ENOTDIR' });
      return;
    }
    if (code !== 'ENOENT' || dirname(path) === path) throw err;
  }
  await makeDirs(dirname(path), mode, mkdirFn);
  try {
    await mkdirFn(path, { mode });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/** fsyncs a directory so that a rename or unlink inside it survives a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** A name beside `path` that no other writer uses: a random suffix, never a fixed `.tmp`. */
export function tempSibling(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
}

/**
 * Writes one file atomically: a temporary sibling, fsync, chmod to `mode` (whatever the umask), rename,
 * fsync of the directory. A failure leaves the previous file as it was.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode: number): Promise<void> {
  const tmp = tempSibling(path);
  try {
    // The directory nearly always exists (the auth writes an inventory record per join): make it only
    // when the open says it is missing, rather than a mkdir and a stat before every write.
    const handle = await open(tmp, 'wx', mode).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
      await makeDirs(dirname(path));
      return open(tmp, 'wx', mode);
    });
    try {
      await handle.writeFile(data);
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fsyncDir(dirname(path));
}
