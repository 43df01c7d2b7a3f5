import { open, readFile, readdir, unlink, chmod, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { AgentRecordSchema, type AgentRecord } from '../../protocol/index.ts';
import { makeDirs, writeFileAtomic } from '../../common/fs.ts';
import type { StoredCa } from '../ca.ts';
import { CaRecordConflictError, StateLockedError, StorageError, TokenExistsError, TokenNotFoundError, stateDirError } from '../errors.ts';
import { formatProvisionToken, isValidTokenName, parseProvisionToken, type ProvisionToken } from '../tokens.ts';
import type { AuthStorage, StoredCaRecord } from './types.ts';

const CA_CERT = 'ca.crt';
const CA_KEY = 'ca.key';
/** The rotation state (phase and every CA with its key, sealed like ca.key); supersedes ca.crt/ca.key. */
const CA_ROTATION = 'ca-rotation.json';
const TOKENS = 'tokens';
const AGENTS = 'agents';
const LOCK = 'auth.lock';
/** Written and removed again by the readiness write probe. */
const PROBE = '.readiness-probe';

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StorageError(`reading ${path} failed: ${(err as Error).message}`, err);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** readdir that fails as a StorageError naming the directory. */
async function listDir(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (err) {
    throw new StorageError(`reading ${path} failed: ${(err as Error).message}`, err);
  }
}

/**
 * Takes the state directory's serving lock: a file holding our pid, created exclusively. A lock whose
 * process is gone (a crash) is taken over.
 */
async function acquireLock(dir: string): Promise<() => Promise<void>> {
  const path = join(dir, LOCK);
  for (let tries = 0; tries < 3; tries++) {
    let handle: FileHandle;
    try {
      handle = await open(path, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw stateDirError(dir, `cannot hold the lock ${path}`, err);
      const pid = Number((await readOptional(path))?.trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) throw new StateLockedError(path, pid);
      await unlink(path).catch(() => undefined);
      continue;
    }
    try {
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
    } catch (err) {
      // A full disk takes the file but not the pid: remove the empty lock rather than leave a stale
      // one for the operator (or the next start) to puzzle over.
      await handle.close().catch(() => undefined);
      await unlink(path).catch(() => undefined);
      throw stateDirError(dir, `cannot write the lock ${path}`, err);
    }
    return async () => {
      await unlink(path).catch(() => undefined);
    };
  }
  throw new StorageError(`cannot take lock ${path}`);
}

/**
 * The embedded default: a state directory on local disk. Files are written atomically (temp, fsync,
 * rename), the CA key with mode 0600. `serve: true` takes the directory's lock, so only one auth process
 * serves it; the token commands open it without the lock (each token is its own file).
 */
export async function openFileStorage(dir: string, options: { serve: boolean; now: () => number }): Promise<AuthStorage> {
  try {
    await makeDirs(join(dir, TOKENS), 0o700);
    await makeDirs(join(dir, AGENTS), 0o700);
  } catch (err) {
    throw stateDirError(dir, 'cannot be created', err);
  }
  await chmod(dir, 0o700).catch((err: unknown) => {
    throw stateDirError(dir, 'cannot be made private (mode 0700)', err);
  });
  const release = options.serve ? await acquireLock(dir) : async () => undefined;
  /** Runs a write; a failure becomes a StorageError naming the state directory and the errno. */
  const writing = async (what: string, write: () => Promise<void>): Promise<void> => {
    try {
      await write();
    } catch (err) {
      throw stateDirError(dir, `cannot be written (${what})`, err);
    }
  };
  const tokenPath = (name: string) => join(dir, TOKENS, `${name}.yaml`);
  // Agent keys hold "/" and user-chosen host IDs: hash them into safe file names, keep the key inside.
  const agentPath = (key: string) => join(dir, AGENTS, `${createHash('sha256').update(key).digest('hex').slice(0, 40)}.json`);
  const readAgentFile = async (path: string): Promise<{ key: string; record: AgentRecord } | undefined> => {
    const text = await readOptional(path);
    if (text === undefined) return undefined;
    try {
      const parsed = JSON.parse(text) as { key: string; record: unknown };
      return { key: String(parsed.key), record: AgentRecordSchema.parse(parsed.record) };
    } catch (err) {
      throw new StorageError(`stored agent record ${path} is corrupt: ${(err as Error).message}`, err);
    }
  };

  // Parsed tokens by name, valid while the file's inode, size and mtime are unchanged: every join reads
  // its token, and a stat costs a fraction of reading and parsing the YAML. The token commands of
  // another process replace the file (new inode), which a stat sees.
  const parsed = new Map<string, { stamp: string; token: ProvisionToken }>();
  const readToken = async (name: string): Promise<ProvisionToken | undefined> => {
    if (!isValidTokenName(name)) return undefined;
    const path = tokenPath(name);
    let stamp: string;
    try {
      const s = await stat(path);
      stamp = `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
    } catch (err) {
      parsed.delete(name);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new StorageError(`reading ${path} failed: ${(err as Error).message}`, err);
    }
    const cached = parsed.get(name);
    if (cached?.stamp === stamp) return cached.token;
    const text = await readOptional(path);
    if (text === undefined) return undefined;
    try {
      const token = parseProvisionToken(text, options.now());
      parsed.set(name, { stamp, token });
      return token;
    } catch (err) {
      throw new StorageError(`stored token ${path} is corrupt: ${(err as Error).message}`, err);
    }
  };

  const listAgents = async (): Promise<{ key: string; record: AgentRecord }[]> => {
    const files = (await readdir(join(dir, AGENTS))).filter((f) => f.endsWith('.json'));
    const records = await Promise.all(files.map((f) => readAgentFile(join(dir, AGENTS, f)).catch(() => undefined)));
    return records.filter((r): r is { key: string; record: AgentRecord } => r !== undefined);
  };
  // Which ServiceAccount each record belongs to, built on first use from one listing and kept current by
  // this process's own writes: the serving process is the only writer of agent records (the lock).
  const workloadKey = (namespace: string, serviceAccount: string) => `${namespace}:${serviceAccount}`;
  let index: Map<string, string> | undefined;
  const workloadIndex = async (): Promise<Map<string, string>> => {
    index ??= new Map((await listAgents()).map(({ key, record }) => [key, workloadKey(record.namespace, record.serviceAccount)]));
    return index;
  };

  const getCa = async (): Promise<StoredCa | undefined> => {
      const [certPem, keyPem] = await Promise.all([readOptional(join(dir, CA_CERT)), readOptional(join(dir, CA_KEY))]);
      if (certPem === undefined && keyPem === undefined) return undefined;
      if (certPem === undefined || keyPem === undefined) throw new StorageError(`state directory ${dir} has only half a CA (${CA_CERT} and ${CA_KEY} go together)`);
      return { certPem, keyPem };
  };

  const getCaRecord = async (): Promise<StoredCaRecord | undefined> => {
    const [ca, rotationJson] = await Promise.all([getCa(), readOptional(join(dir, CA_ROTATION))]);
    if (ca === undefined) return undefined;
    const version = createHash('sha256').update(JSON.stringify([ca.certPem, ca.keyPem, rotationJson ?? null])).digest('hex');
    return { ca, rotationJson, version };
  };
  // This process is the only writer (the lock); the chain keeps its own writes from interleaving.
  let caWrites: Promise<unknown> = Promise.resolve();

  return {
    getCa,
    getCaRecord,
    putCaRecord(record, version) {
      const write = caWrites.then(async () => {
        if ((await getCaRecord())?.version !== version) throw new CaRecordConflictError();
        // The rotation file first: it is what start-up believes, whatever a crash leaves of the others.
        await writing('the CA', async () => {
          await writeFileAtomic(join(dir, CA_ROTATION), record.rotationJson, 0o600);
          await writeFileAtomic(join(dir, CA_KEY), record.ca.keyPem, 0o600);
          await writeFileAtomic(join(dir, CA_CERT), record.ca.certPem, 0o644);
        });
      });
      caWrites = write.catch(() => undefined);
      return write;
    },
    async createCa(ca: StoredCa) {
      const existing = await getCa();
      if (existing) return existing;
      // Key first: a crash between the two leaves "only half a CA", which start-up reports, never a
      // certificate whose key is lost.
      await writing('the CA', async () => {
        await writeFileAtomic(join(dir, CA_KEY), ca.keyPem, 0o600);
        await writeFileAtomic(join(dir, CA_CERT), ca.certPem, 0o644);
      });
      return ca;
    },
    getToken: readToken,
    async putToken(token, { overwrite }) {
      if (!overwrite && (await readOptional(tokenPath(token.metadata.name))) !== undefined) throw new TokenExistsError(token.metadata.name);
      parsed.delete(token.metadata.name);
      await writing(`token ${token.metadata.name}`, () => writeFileAtomic(tokenPath(token.metadata.name), formatProvisionToken(token), 0o600));
    },
    async listTokens() {
      const names = (await listDir(join(dir, TOKENS))).filter((f) => f.endsWith('.yaml')).map((f) => f.slice(0, -'.yaml'.length));
      const tokens = await Promise.all(names.map(readToken));
      return tokens.filter((t): t is ProvisionToken => t !== undefined).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    },
    async deleteToken(name) {
      if (!isValidTokenName(name)) throw new TokenNotFoundError(name);
      parsed.delete(name);
      try {
        await unlink(tokenPath(name));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new TokenNotFoundError(name);
        throw new StorageError(`deleting token ${name} failed: ${(err as Error).message}`, err);
      }
    },
    async getAgent(key) {
      return (await readAgentFile(agentPath(key)))?.record;
    },
    async putAgent(key, record) {
      await writing(`agent record ${key}`, () => writeFileAtomic(agentPath(key), JSON.stringify({ key, record }), 0o600));
      index?.set(key, workloadKey(record.namespace, record.serviceAccount));
    },
    listAgents,
    async listAgentsOf(namespace, serviceAccount) {
      const index = await workloadIndex();
      const entries = await Promise.all([...index].filter(([, w]) => w === workloadKey(namespace, serviceAccount)).map(([key]) => readAgentFile(agentPath(key)).catch(() => undefined)));
      return entries.filter((e): e is { key: string; record: AgentRecord } => e !== undefined && e.record.namespace === namespace && e.record.serviceAccount === serviceAccount);
    },
    async deleteAgent(key) {
      await unlink(agentPath(key)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw new StorageError(`deleting agent record ${key} failed: ${err.message}`, err);
      });
      index?.delete(key);
    },
    async ping() {
      await listDir(join(dir, TOKENS));
    },
    async probeWrite() {
      const path = join(dir, PROBE);
      await writing('readiness probe', async () => {
        await writeFileAtomic(path, `${process.pid}\n`, 0o600);
        await unlink(path);
      });
    },
    close: release,
  };
}
