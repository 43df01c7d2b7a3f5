import { createHash } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { AgentRecordSchema, type AgentRecord } from '../../protocol/index.ts';
import { KubeApiError, KubeUnreachableError, type KubeClient } from '../../kube/index.ts';
import type { StoredCa } from '../ca.ts';
import { CaRecordConflictError, StorageError, TokenExistsError, TokenNotFoundError } from '../errors.ts';
import { formatProvisionToken, isValidTokenName, parseProvisionToken, type ProvisionToken } from '../tokens.ts';
import type { AuthStorage, StoredCaRecord } from './types.ts';
import { NAMESPACE_NAME } from '../kube-names.ts';
import { retryDelayMs } from '../../common/backoff.ts';

/** Labels every object of this backend carries; lists select on them. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'kube-join';
export const KIND_LABEL = 'kube-join.dev/kind';
/** The real (unmapped) provision token name, on its Secret. */
export const TOKEN_NAME_ANNOTATION = 'kube-join.dev/token-name';
/** `{"key":…,"record":…}` of an inventory entry, on its Lease (Leases have no data field). */
export const AGENT_ANNOTATION = 'kube-join.dev/agent';
/**
 * Label of an agent Lease naming its ServiceAccount, as a hash of `namespace:name` (a label value holds
 * at most 63 characters, a ServiceAccount name up to 253), so one workload's records list by selector.
 */
export const WORKLOAD_LABEL = 'kube-join.dev/workload';
export const CA_SECRET = 'kube-join-ca';
/** Name of the Secret the readiness probe creates as a server-side dry run (never stored). */
export const PROBE_SECRET = 'kube-join-readiness-probe';
const CA_CERT = 'ca.crt';
const CA_KEY = 'ca.key';
/** Key of the CA Secret holding the rotation state; one object, so one resourceVersion guards it all. */
const CA_ROTATION = 'rotation.json';
const TOKEN_KEY = 'token.yaml';
const TOKEN_PREFIX = 'kube-join-token-';
const AGENT_PREFIX = 'kube-join-agent-';
const LIST_PAGE = 250;
/** Waits between retries of a write that lost a resourceVersion race: short, as the winner is done. */
const CONFLICT_BACKOFF = { baseMs: 40, capMs: 1000 };
const DIRECT_TOKEN_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

type Kind = 'ca' | 'token' | 'agent';
type Verb = 'get' | 'list' | 'create' | 'update' | 'delete';
type Resource = 'secrets' | 'leases';

interface ObjectMeta {
  name: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface Secret {
  metadata: ObjectMeta;
  data?: Record<string, string>;
}
interface Lease {
  metadata: ObjectMeta;
}
interface List<T> {
  items?: T[];
  metadata?: { continue?: string };
}

export interface KubernetesStorageOptions {
  /** API client (the auth service's own ServiceAccount); closed by `close()`. */
  client: KubeClient;
  /** Namespace that holds every object (the auth service's own). */
  namespace: string;
  now: () => number;
  /** [0, 1) source for the jitter of conflict retries (default Math.random). */
  random?: () => number;
  /** Waits between conflict retries (default a timer). */
  sleep?: (ms: number) => Promise<void>;
  /** Attempts of one read-modify-write before giving up (default 8). */
  maxAttempts?: number;
}

const sha256Hex = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * The Secret name of a provision token. Names that are already a lower-case DNS label are kept
 * (`kube-join-token-<name>`); any other (upper case, `.`, `_`) is lower-cased, its other characters
 * turned into `-`, and a hash of the real name follows a `.`: `kube-join-token-<readable>.<hash12>`.
 * Kept names never hold a `.` and mapped ones always do, so two token names never share an object
 * (short of a 48-bit hash collision, which reads detect through the name annotation).
 */
export function tokenObjectName(name: string): string {
  if (DIRECT_TOKEN_NAME.test(name) && TOKEN_PREFIX.length + name.length <= 253) return TOKEN_PREFIX + name;
  const readable = name.toLowerCase().replace(/[^a-z0-9-]+/g, '-').slice(0, 200).replace(/^-+|-+$/g, '');
  return `${TOKEN_PREFIX}${readable || 'x'}.${sha256Hex(name).slice(0, 12)}`;
}

/** The Lease name of an inventory entry: a hash of its key (keys hold `/` and user-chosen host IDs). */
export function agentObjectName(key: string): string {
  return AGENT_PREFIX + sha256Hex(key).slice(0, 40);
}

const labelsOf = (kind: Kind) => ({ [MANAGED_BY_LABEL]: MANAGED_BY, [KIND_LABEL]: kind });
const selectorOf = (kind: Kind) => `${MANAGED_BY_LABEL}=${MANAGED_BY},${KIND_LABEL}=${kind}`;
const workloadOf = (namespace: string, serviceAccount: string) => sha256Hex(`${namespace}:${serviceAccount}`).slice(0, 40);
const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const unb64 = (data: string) => Buffer.from(data, 'base64').toString('utf8');
/** Lease times are MicroTime: RFC 3339 with exactly six fractional digits. */
const microTime = (iso: string) => new Date(iso).toISOString().replace(/Z$/, '000Z');

function isStatus(err: unknown, status: number): err is KubeApiError {
  return err instanceof KubeApiError && err.status === status;
}

/**
 * Provision tokens, the CA and the inventory as objects in one namespace, for several auth replicas:
 * - the CA: Secret `kube-join-ca` (`ca.crt`, `ca.key`), created with POST only, so replicas starting at
 *   once agree on the first one stored; a rotation adds `rotation.json` and updates the Secret with the
 *   resourceVersion read, so one replica drives each phase and the others follow;
 * - each provision token: a Secret `kube-join-token-<mapped name>` (see tokenObjectName), the YAML in
 *   `token.yaml`, the real name in an annotation;
 * - each agent: a `coordination.k8s.io/v1` Lease named from a hash of its key, the record as JSON in an
 *   annotation, holder = key, renewTime = last join, leaseDurationSeconds = until it leaves the inventory.
 * Every object is small and labelled; lists use label selectors. Updates carry the resourceVersion
 * read and are retried (bounded, jittered) on 409 Conflict.
 */
export async function openKubernetesStorage(options: KubernetesStorageOptions): Promise<AuthStorage> {
  const { client, namespace, now } = options;
  const random = options.random ?? Math.random;
  const sleep = options.sleep ?? ((ms: number) => delay(ms));
  const maxAttempts = options.maxAttempts ?? 8;
  if (!NAMESPACE_NAME.test(namespace)) throw new StorageError(`Kubernetes storage namespace ${JSON.stringify(namespace)} is not a valid namespace name (a DNS-1123 label)`);
  const ns = encodeURIComponent(namespace);
  const base: Record<Resource, string> = {
    secrets: `/api/v1/namespaces/${ns}/secrets`,
    leases: `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`,
  };
  const resourceName: Record<Resource, string> = { secrets: 'secrets', leases: 'leases.coordination.k8s.io' };
  const rbacHint = `grant the auth service's ServiceAccount a Role in namespace ${namespace} with verbs get, list, create, update and delete on secrets and on leases (API group coordination.k8s.io), and a RoleBinding to it`;

  /**
   * One API call. Statuses in `handled` reach the caller as KubeApiError; anything else becomes a
   * StorageError that says what failed (and, for 403, which permission is missing).
   */
  async function call<T>(verb: Verb, resource: Resource, method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, opts: { body?: unknown; query?: Record<string, string>; handled?: number[] } = {}): Promise<T> {
    try {
      return await client.request<T>(method, path, { ...(opts.body !== undefined ? { body: opts.body } : {}), ...(opts.query ? { query: opts.query } : {}) });
    } catch (err) {
      if (err instanceof KubeApiError && opts.handled?.includes(err.status)) throw err;
      if (err instanceof KubeUnreachableError) throw new StorageError(`Kubernetes storage (namespace ${namespace}) is unreachable: ${err.message}`, err);
      if (err instanceof KubeApiError && err.status === 403) {
        throw new StorageError(`Kubernetes storage: the auth service may not ${verb} ${resourceName[resource]} in namespace ${namespace}; ${rbacHint} (apiserver: ${err.apiMessage ?? 'Forbidden'})`, err);
      }
      if (err instanceof KubeApiError && err.status === 401) {
        throw new StorageError(`Kubernetes storage: the Kubernetes API ${client.server} refused the credentials of ${client.source} (401 Unauthorized)`, err);
      }
      if (err instanceof KubeApiError) throw new StorageError(`Kubernetes storage: ${err.message}`, err);
      throw new StorageError(`Kubernetes storage: ${method} ${path} failed: ${(err as Error).message}`, err);
    }
  }

  /** GET of one object, or undefined on 404. */
  async function getObject<T>(resource: Resource, name: string): Promise<T | undefined> {
    try {
      return await call<T>('get', resource, 'GET', `${base[resource]}/${name}`, { handled: [404] });
    } catch (err) {
      if (isStatus(err, 404)) return undefined;
      throw err;
    }
  }

  /** Every object of `kind` (and of `extraSelector`, if given), page by page. */
  async function listObjects<T>(resource: Resource, kind: Kind, extraSelector?: string): Promise<T[]> {
    const items: T[] = [];
    const labelSelector = extraSelector === undefined ? selectorOf(kind) : `${selectorOf(kind)},${extraSelector}`;
    let next: string | undefined;
    do {
      const page: List<T> = await call<List<T>>('list', resource, 'GET', base[resource], {
        query: { labelSelector, limit: String(LIST_PAGE), ...(next ? { continue: next } : {}) },
      });
      items.push(...(page.items ?? []));
      next = page.metadata?.continue || undefined;
    } while (next !== undefined);
    return items;
  }

  /**
   * Runs `attempt` until it does not end in 409 (a create racing a create, or an update carrying a
   * stale resourceVersion): at most `maxAttempts` times, with full-jitter exponential waits.
   */
  async function retryOnConflict<T>(what: string, attempt: () => Promise<T>): Promise<T> {
    for (let i = 1; ; i++) {
      try {
        return await attempt();
      } catch (err) {
        if (!isStatus(err, 409)) throw err;
        if (i >= maxAttempts) throw new StorageError(`Kubernetes storage: ${what} still conflicted with other writers after ${maxAttempts} attempts`, err);
      }
      await sleep(retryDelayMs(i, random(), CONFLICT_BACKOFF));
    }
  }

  /** Creates the object when absent, else replaces it with the resourceVersion just read; retried on conflict. */
  async function upsert(resource: Resource, name: string, what: string, build: (current: { metadata: ObjectMeta } | undefined) => { metadata: ObjectMeta }): Promise<void> {
    await retryOnConflict(what, async () => {
      const current = await getObject<{ metadata: ObjectMeta }>(resource, name);
      const body = build(current);
      if (current === undefined) {
        await call('create', resource, 'POST', base[resource], { body, handled: [409] });
      } else {
        body.metadata.resourceVersion = current.metadata.resourceVersion;
        await call('update', resource, 'PUT', `${base[resource]}/${name}`, { body, handled: [409] });
      }
    });
  }

  // --- CA ---------------------------------------------------------------------------------------

  const caOf = (secret: Secret): StoredCa => {
    const cert = secret.data?.[CA_CERT];
    const key = secret.data?.[CA_KEY];
    if (cert === undefined || key === undefined) {
      throw new StorageError(`Secret ${namespace}/${CA_SECRET} lacks ${cert === undefined ? CA_CERT : CA_KEY} (${CA_CERT} and ${CA_KEY} go together)`);
    }
    return { certPem: unb64(cert), keyPem: unb64(key) };
  };

  async function getCa(): Promise<StoredCa | undefined> {
    const secret = await getObject<Secret>('secrets', CA_SECRET);
    return secret === undefined ? undefined : caOf(secret);
  }

  async function getCaRecord(): Promise<StoredCaRecord | undefined> {
    const secret = await getObject<Secret>('secrets', CA_SECRET);
    if (secret === undefined) return undefined;
    const rotation = secret.data?.[CA_ROTATION];
    return { ca: caOf(secret), rotationJson: rotation === undefined ? undefined : unb64(rotation), version: secret.metadata.resourceVersion ?? '' };
  }

  // --- tokens -----------------------------------------------------------------------------------

  const tokenSecret = (token: ProvisionToken): Secret & { apiVersion: string; kind: string; type: string } => ({
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: { name: tokenObjectName(token.metadata.name), labels: labelsOf('token'), annotations: { [TOKEN_NAME_ANNOTATION]: token.metadata.name } },
    data: { [TOKEN_KEY]: b64(formatProvisionToken(token)) },
  });

  // Parsed tokens by Secret name, valid while the Secret holds the same name and bytes: every join reads
  // its token, and the YAML parse costs far more than comparing the text. A write by any replica changes
  // the bytes the next read sees, so it is never served stale; this replica's own writes drop the entry.
  const parsedTokens = new Map<string, { name: string; data: string; token: ProvisionToken }>();
  const MAX_PARSED_TOKENS = 10_000;

  /** The token a Secret holds; undefined when the Secret belongs to another name (a hash collision). */
  function tokenOf(secret: Secret, expected?: string): ProvisionToken | undefined {
    const name = secret.metadata.annotations?.[TOKEN_NAME_ANNOTATION];
    if (expected !== undefined && name !== expected) return undefined;
    const where = `Secret ${namespace}/${secret.metadata.name}`;
    const data = secret.data?.[TOKEN_KEY];
    if (name === undefined || data === undefined) throw new StorageError(`stored token ${where} is corrupt: it lacks the ${name === undefined ? `annotation ${TOKEN_NAME_ANNOTATION}` : `key ${TOKEN_KEY}`}`);
    const cached = parsedTokens.get(secret.metadata.name);
    if (cached !== undefined && cached.name === name && cached.data === data) return cached.token;
    let token: ProvisionToken;
    try {
      token = parseProvisionToken(unb64(data), now());
    } catch (err) {
      throw new StorageError(`stored token ${where} is corrupt: ${(err as Error).message}`, err);
    }
    if (token.metadata.name !== name) throw new StorageError(`stored token ${where} is corrupt: it holds token "${token.metadata.name}" but is annotated "${name}"`);
    if (parsedTokens.size >= MAX_PARSED_TOKENS) parsedTokens.clear();
    parsedTokens.set(secret.metadata.name, { name, data, token });
    return token;
  }

  // --- agents -----------------------------------------------------------------------------------

  const agentLease = (key: string, record: AgentRecord) => {
    const lifetime = Math.ceil((Date.parse(record.expiresAt) - Date.parse(record.lastJoin)) / 1000);
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: agentObjectName(key), labels: { ...labelsOf('agent'), [WORKLOAD_LABEL]: workloadOf(record.namespace, record.serviceAccount) }, annotations: { [AGENT_ANNOTATION]: JSON.stringify({ key, record }) } } as ObjectMeta,
      spec: {
        holderIdentity: key,
        acquireTime: microTime(record.firstJoin),
        renewTime: microTime(record.lastJoin),
        leaseDurationSeconds: Number.isFinite(lifetime) ? Math.min(Math.max(lifetime, 1), 2 ** 31 - 1) : 1,
      },
    };
  };

  function agentOf(lease: Lease): { key: string; record: AgentRecord } {
    const text = lease.metadata.annotations?.[AGENT_ANNOTATION];
    try {
      if (text === undefined) throw new Error(`no annotation ${AGENT_ANNOTATION}`);
      const parsed = JSON.parse(text) as { key?: unknown; record?: unknown };
      if (typeof parsed.key !== 'string') throw new Error('no key');
      return { key: parsed.key, record: AgentRecordSchema.parse(parsed.record) };
    } catch (err) {
      throw new StorageError(`stored agent record Lease ${namespace}/${lease.metadata.name} is corrupt: ${(err as Error).message}`, err);
    }
  }

  /** resourceVersion of each agent record as the last listAgents saw it: deleteAgent deletes that version only. */
  let listed = new Map<string, string>();

  return {
    getCa,
    getCaRecord,
    async putCaRecord(record, version) {
      const body = {
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'Opaque',
        metadata: { name: CA_SECRET, labels: labelsOf('ca'), resourceVersion: version },
        data: { [CA_CERT]: b64(record.ca.certPem), [CA_KEY]: b64(record.ca.keyPem), [CA_ROTATION]: b64(record.rotationJson) },
      };
      try {
        await call('update', 'secrets', 'PUT', `${base.secrets}/${CA_SECRET}`, { body, handled: [409] });
      } catch (err) {
        if (isStatus(err, 409)) throw new CaRecordConflictError();
        throw err;
      }
    },
    async createCa(ca) {
      const body = {
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'Opaque',
        metadata: { name: CA_SECRET, labels: labelsOf('ca') },
        data: { [CA_CERT]: b64(ca.certPem), [CA_KEY]: b64(ca.keyPem) },
      };
      try {
        await call('create', 'secrets', 'POST', base.secrets, { body, handled: [409] });
        return ca;
      } catch (err) {
        if (!isStatus(err, 409)) throw err;
      }
      // Another replica stored its CA first: everyone uses that one.
      const stored = await getCa();
      if (stored === undefined) throw new StorageError(`Secret ${namespace}/${CA_SECRET} was reported to exist but cannot be read back`);
      return stored;
    },

    async getToken(name) {
      if (!isValidTokenName(name)) return undefined;
      const objectName = tokenObjectName(name);
      const secret = await getObject<Secret>('secrets', objectName);
      if (secret === undefined) parsedTokens.delete(objectName);
      return secret === undefined ? undefined : tokenOf(secret, name);
    },
    async putToken(token, { overwrite }) {
      const name = token.metadata.name;
      const objectName = tokenObjectName(name);
      parsedTokens.delete(objectName);
      if (!overwrite) {
        try {
          await call('create', 'secrets', 'POST', base.secrets, { body: tokenSecret(token), handled: [409] });
          return;
        } catch (err) {
          if (isStatus(err, 409)) throw new TokenExistsError(name);
          throw err;
        }
      }
      await upsert('secrets', objectName, `writing token "${name}"`, (current) => {
        const owner = current?.metadata.annotations?.[TOKEN_NAME_ANNOTATION];
        if (current !== undefined && owner !== name) throw new StorageError(`Secret ${namespace}/${objectName} holds token "${owner}", not "${name}"; rename one of them`);
        return tokenSecret(token);
      });
    },
    async listTokens() {
      const tokens = (await listObjects<Secret>('secrets', 'token')).map((s) => tokenOf(s) as ProvisionToken);
      return tokens.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    },
    async deleteToken(name) {
      if (!isValidTokenName(name)) throw new TokenNotFoundError(name);
      const objectName = tokenObjectName(name);
      parsedTokens.delete(objectName);
      const secret = await getObject<Secret>('secrets', objectName);
      if (secret === undefined || secret.metadata.annotations?.[TOKEN_NAME_ANNOTATION] !== name) throw new TokenNotFoundError(name);
      try {
        await call('delete', 'secrets', 'DELETE', `${base.secrets}/${objectName}`, { handled: [404] });
      } catch (err) {
        if (isStatus(err, 404)) throw new TokenNotFoundError(name);
        throw err;
      }
    },

    async getAgent(key) {
      const lease = await getObject<Lease>('leases', agentObjectName(key));
      if (lease === undefined) return undefined;
      const entry = agentOf(lease);
      return entry.key === key ? entry.record : undefined;
    },
    async putAgent(key, record) {
      await upsert('leases', agentObjectName(key), `recording agent ${key}`, () => agentLease(key, record));
    },
    async listAgents() {
      const seen = new Map<string, string>();
      const entries: { key: string; record: AgentRecord }[] = [];
      for (const lease of await listObjects<Lease>('leases', 'agent')) {
        let entry: { key: string; record: AgentRecord };
        try {
          entry = agentOf(lease);
        } catch {
          continue; // as the file backend: an unreadable entry is left out, never fatal to a listing
        }
        entries.push(entry);
        if (lease.metadata.resourceVersion !== undefined) seen.set(entry.key, lease.metadata.resourceVersion);
      }
      listed = seen;
      return entries;
    },
    async listAgentsOf(agentNamespace, serviceAccount) {
      const entries: { key: string; record: AgentRecord }[] = [];
      for (const lease of await listObjects<Lease>('leases', 'agent', `${WORKLOAD_LABEL}=${workloadOf(agentNamespace, serviceAccount)}`)) {
        try {
          const entry = agentOf(lease);
          // The label is a hash: the record itself decides.
          if (entry.record.namespace === agentNamespace && entry.record.serviceAccount === serviceAccount) entries.push(entry);
        } catch {
          continue;
        }
      }
      return entries;
    },
    async deleteAgent(key) {
      // Deletes the version listAgents returned: if another replica re-recorded the agent since (a
      // new join), the precondition fails and the fresh record stays.
      const resourceVersion = listed.get(key);
      const body = resourceVersion !== undefined ? { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { resourceVersion } } : undefined;
      try {
        await call('delete', 'leases', 'DELETE', `${base.leases}/${agentObjectName(key)}`, { ...(body ? { body } : {}), handled: [404, 409] });
      } catch (err) {
        if (!isStatus(err, 404) && !isStatus(err, 409)) throw err;
      }
      listed.delete(key);
    },

    async ping() {
      await call('list', 'secrets', 'GET', base.secrets, { query: { labelSelector: selectorOf('token'), limit: '1' } });
    },
    async probeWrite() {
      // dryRun=All: authorization and admission decide as for a real create, and nothing reaches etcd.
      const body = { apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: { name: PROBE_SECRET, labels: { [MANAGED_BY_LABEL]: MANAGED_BY } } };
      try {
        await call('create', 'secrets', 'POST', base.secrets, { body, query: { dryRun: 'All' }, handled: [409] });
      } catch (err) {
        // 409 AlreadyExists: someone stored a Secret of that name; authorization to create had passed.
        if (!isStatus(err, 409)) throw err;
      }
    },
    async close() {
      client.close();
    },
  };
}
