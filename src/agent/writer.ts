import * as nodeFs from 'node:fs/promises';
import { join } from 'node:path';
import { CertWriteError } from './errors.ts';
import { makeDirs } from '../common/fs.ts';

/** One file of a credential set. */
export interface SetFile {
  name: string;
  data: string | Uint8Array;
  /** Applied with chmod on every write, whatever the umask or an earlier mode. */
  mode: number;
}

/** The part of node:fs/promises the writer uses; tests pass a copy with one call made to fail. */
export type WriterFs = Pick<typeof nodeFs, 'mkdir' | 'mkdtemp' | 'open' | 'chmod' | 'chown' | 'symlink' | 'rename' | 'readlink' | 'readdir' | 'rm' | 'unlink' | 'lstat'>;

export const DATA_LINK = '..data';
const DATA_TMP_LINK = '..data_tmp';
const SET_DIR_PREFIX = '..';

function stamp(now: number): string {
  // The kubelet's AtomicWriter names its directories the same way: sortable, and unlike any file name.
  return new Date(now).toISOString().replace(/[-:]/g, '').replace('T', '_').replace('Z', '');
}

async function fsyncPath(fs: WriterFs, path: string): Promise<void> {
  const handle = await fs.open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function replaceSymlink(fs: WriterFs, dir: string, name: string, target: string): Promise<void> {
  const tmp = join(dir, `${SET_DIR_PREFIX}${name}.tmp`);
  await fs.rm(tmp, { force: true });
  await fs.symlink(target, tmp);
  await fs.rename(tmp, join(dir, name));
}

async function currentTarget(fs: WriterFs, dir: string): Promise<string | undefined> {
  try {
    return await fs.readlink(join(dir, DATA_LINK));
  } catch {
    return undefined;
  }
}

/**
 * Replaces the whole credential set in `dir` at once, as the kubelet's AtomicWriter does for projected
 * volumes: the files go into a new `..<timestamp>.<random>` directory (each fsynced, modes set), the
 * `..data` symlink is swapped to it with one rename, and each top-level name is a symlink into
 * `..data`. A reader that resolves `..data` once sees one whole set; nothing half-written is ever
 * reachable. If anything fails before the swap, the new directory is removed and the previous set is
 * untouched.
 */
export async function writeCredentialSet(
  dir: string,
  files: readonly SetFile[],
  options: { now: number; gid?: number | undefined; fs?: WriterFs },
): Promise<void> {
  const fs = options.fs ?? nodeFs;
  let setDir: string | undefined;
  try {
    await makeDirs(dir, 0o755, (path, o) => fs.mkdir(path, o));
    setDir = await fs.mkdtemp(join(dir, `${SET_DIR_PREFIX}${stamp(options.now)}.`));
    await fs.chmod(setDir, options.gid === undefined ? 0o755 : 0o750);
    if (options.gid !== undefined) await fs.chown(setDir, -1, options.gid);
    for (const file of files) {
      const path = join(setDir, file.name);
      const handle = await fs.open(path, 'wx', file.mode);
      try {
        await handle.writeFile(file.data);
        await handle.chmod(file.mode);
        if (options.gid !== undefined) await handle.chown(-1, options.gid);
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
    await fsyncPath(fs, setDir);
  } catch (err) {
    if (setDir !== undefined) await fs.rm(setDir, { recursive: true, force: true }).catch(() => undefined);
    throw new CertWriteError(dir, err);
  }

  const previous = await currentTarget(fs, dir);
  const setName = setDir.slice(dir.length + 1);
  try {
    await fs.rm(join(dir, DATA_TMP_LINK), { force: true });
    await fs.symlink(setName, join(dir, DATA_TMP_LINK));
    await fs.rename(join(dir, DATA_TMP_LINK), join(dir, DATA_LINK));
    await fsyncPath(fs, dir);
  } catch (err) {
    await fs.rm(setDir, { recursive: true, force: true }).catch(() => undefined);
    throw new CertWriteError(dir, err);
  }

  // From here the new set is live. The steps below only tidy up; a failure is reported, and the next
  // write repairs it.
  try {
    const wanted = new Set(files.map((f) => f.name));
    for (const name of wanted) {
      const target = join(DATA_LINK, name);
      const existing = await fs.readlink(join(dir, name)).catch(() => undefined);
      if (existing !== target) await replaceSymlink(fs, dir, name, target);
    }
    for (const entry of await fs.readdir(dir)) {
      if (entry === DATA_LINK || entry === setName) continue;
      const path = join(dir, entry);
      if (entry.startsWith(SET_DIR_PREFIX)) {
        // The previous set, and any set left behind by a write that crashed before its swap.
        if (entry === previous || /^\.\.\d{8}_/.test(entry)) await fs.rm(path, { recursive: true, force: true });
        continue;
      }
      const link = await fs.readlink(path).catch(() => undefined);
      if (link?.startsWith(`${DATA_LINK}/`) && !wanted.has(entry)) await fs.unlink(path);
    }
    await fsyncPath(fs, dir);
  } catch (err) {
    throw new CertWriteError(dir, err);
  }
}

/** Reads the set `..data` points at now, as a consistent reader does: resolve once, then read by path. */
export async function readCurrentSet(dir: string, names: readonly string[]): Promise<Map<string, Buffer> | undefined> {
  const target = await currentTarget(nodeFs, dir);
  if (target === undefined) return undefined;
  const out = new Map<string, Buffer>();
  for (const name of names) out.set(name, await nodeFs.readFile(join(dir, target, name)));
  return out;
}
