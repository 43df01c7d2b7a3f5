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
  };
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
 * Records a join under its pod's key. A pod's first join is refused a record when its ServiceAccount
 * already holds `maxPerServiceAccount` live ones, so one workload that can create pods cannot grow the
 * inventory (and its storage) without bound; its renewals always update its own record.
 */
export async function recordJoin(storage: AuthStorage, facts: JoinFacts, now: number, policy: RecordPolicy): Promise<{ key: string; recorded: boolean }> {
  const key = agentKey(facts.namespace, facts.podName, facts.podUid);
  const previous = await storage.getAgent(key);
  if (previous === undefined) {
    const held = (await storage.listAgentsOf(facts.namespace, facts.serviceAccount)).filter(({ record }) => isRecordLive(record, now)).length;
    if (held >= policy.maxPerServiceAccount) return { key, recorded: false };
  }
  await storage.putAgent(key, nextRecord(previous, facts, now, policy.graceMs));
  return { key, recorded: true };
}
