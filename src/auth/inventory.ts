import type { AgentRecord, AppSpec } from '../protocol/index.ts';
import type { AuthStorage } from './storage/types.ts';

export interface JoinFacts {
  hostId: string;
  namespace: string;
  serviceAccount: string;
  podName: string;
  podUid: string;
  nodeName?: string | undefined;
  roles: readonly string[];
  apps: readonly AppSpec[];
  tokenName: string;
  agentVersion: string;
  notAfter: Date;
}

/**
 * The key of an agent in the inventory: one record per pod, as the verified ServiceAccount token names
 * it. The pod UID is part of it, so that not even a later pod of the same name (a StatefulSet's) can
 * overwrite a record that is not its own.
 */
export function agentKey(namespace: string, podName: string, podUid: string): string {
  return `${namespace}/${podName}/${podUid}`;
}

/** Merges a join into the agent's previous record (keeping its first join), or starts one. */
export function nextRecord(previous: AgentRecord | undefined, facts: JoinFacts, now: number, graceMs: number): AgentRecord {
  const at = new Date(now).toISOString();
  return {
    hostId: facts.hostId,
    namespace: facts.namespace,
    serviceAccount: facts.serviceAccount,
    podName: facts.podName,
    podUid: facts.podUid,
    ...(facts.nodeName !== undefined ? { nodeName: facts.nodeName } : {}),
    roles: [...facts.roles],
    apps: [...facts.apps],
    tokenName: facts.tokenName,
    agentVersion: facts.agentVersion,
    firstJoin: previous?.firstJoin ?? at,
    lastJoin: at,
    notAfter: facts.notAfter.toISOString(),
    expiresAt: new Date(facts.notAfter.getTime() + graceMs).toISOString(),
    // A replaced pod that still renews (a rollout's overlap) stays replaced: it never takes its apps back.
    // podGoneAt is not carried: a pod that renews is not gone.
    ...(previous?.supersededBy !== undefined ? { supersededBy: previous.supersededBy } : {}),
  };
}

/**
 * The workload generation a pod belongs to, read from its name: a Deployment's pod
 * `web-7d9f8c6b5-x2x4q` → `web-7d9f8c6b5` (its ReplicaSet), a StatefulSet's `web-0` → `web`; none
 * for a name without a dash (a bare pod). Pods of one generation are replicas side by side; a pod of
 * another generation is a redeploy.
 */
export function podGeneration(podName: string): string | undefined {
  const at = podName.lastIndexOf('-');
  return at > 0 ? podName.slice(0, at) : undefined;
}

/**
 * Whether `newer`, joining for the first time, replaces the live record `older` of the same
 * ServiceAccount: it serves an app of the same name, and is either the same pod name recreated (a
 * StatefulSet's pod, a new UID) or a pod of another generation (a Deployment's new ReplicaSet).
 */
export function replaces(newer: JoinFacts, older: AgentRecord): boolean {
  if (older.supersededBy !== undefined) return false;
  const names = new Set(newer.apps.map((a) => a.name));
  if (!older.apps.some((a) => names.has(a.name))) return false;
  if (older.podName === newer.podName) return true;
  const [was, is] = [podGeneration(older.podName ?? older.hostId), podGeneration(newer.podName)];
  return was !== undefined && is !== undefined && was !== is;
}

export function isRecordLive(record: AgentRecord, now: number): boolean {
  return Date.parse(record.expiresAt) > now;
}

export interface RecordPolicy {
  /** How long a record stays after its certificate expired. */
  graceMs: number;
  /** Live records one ServiceAccount may hold; a new pod past it is not recorded. */
  maxPerServiceAccount: number;
}

/**
 * Records a join under its pod's key. A pod's first join marks the records it replaces (see
 * `replaces`) as superseded, so a redeployed app is listed once, not beside its old pod for the
 * grace period. It is refused a record when its ServiceAccount already holds `maxPerServiceAccount`
 * live ones that are not superseded, so one workload that can create pods cannot grow the inventory
 * (and its storage) without bound; its renewals always update its own record.
 */
export async function recordJoin(storage: AuthStorage, facts: JoinFacts, now: number, policy: RecordPolicy): Promise<{ key: string; recorded: boolean; superseded: string[] }> {
  const key = agentKey(facts.namespace, facts.podName, facts.podUid);
  const previous = await storage.getAgent(key);
  const superseded: string[] = [];
  if (previous === undefined) {
    const live = (await storage.listAgentsOf(facts.namespace, facts.serviceAccount)).filter(({ record }) => isRecordLive(record, now));
    const replaced = live.filter(({ record }) => replaces(facts, record));
    const held = live.filter(({ record }) => record.supersededBy === undefined).length - replaced.length;
    if (held >= policy.maxPerServiceAccount) return { key, recorded: false, superseded };
    for (const old of replaced) {
      await storage.putAgent(old.key, { ...old.record, supersededBy: key });
      superseded.push(old.key);
    }
  }
  await storage.putAgent(key, nextRecord(previous, facts, now, policy.graceMs));
  return { key, recorded: true, superseded };
}
