import { readFile } from 'node:fs/promises';
import { KubeJoinError } from './errors.ts';

/** What an errno says about a file that cannot be read, in words for a one-line message. */
const READ_PROBLEMS: Readonly<Record<string, string>> = {
  ENOENT: 'does not exist',
  ENOTDIR: 'does not exist (a parent is not a directory)',
  EISDIR: 'is a directory',
  EACCES: 'is not readable by this process',
  EPERM: 'is not readable by this process',
};

/** The errno code of a failed system call (`ENOENT`), else the error's message. */
export function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException | undefined)?.code ?? (err instanceof Error ? err.message : String(err));
}

/** `token file ./t.yaml does not exist (ENOENT)`: what, where, and the errno. */
export function readFailure(what: string, path: string, err: unknown): string {
  const errno = errnoOf(err);
  return `${what} ${path} ${READ_PROBLEMS[errno] ?? 'cannot be read'} (${errno})`;
}

/** A file the user named (`-f`, `--ca-file`, ...) cannot be read. `errno` is the system call's code. */
export class FileReadError extends KubeJoinError<'ERR_FILE_READ'> {
  readonly path: string;
  readonly errno: string;
  constructor(what: string, path: string, cause: unknown) {
    super('ERR_FILE_READ', readFailure(what, path, cause), { cause });
    this.path = path;
    this.errno = errnoOf(cause);
  }
}

/** Reads a text file the user named; throws FileReadError (`ERR_FILE_READ`) naming `what` and the errno. */
export async function readUserFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new FileReadError(what, path, err);
  }
}
