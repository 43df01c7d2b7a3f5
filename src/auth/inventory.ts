import type { AgentRecord, AppSpec } from '../protocol/index.ts';

export interface JoinFacts {
  hostId: string;
  namespace: string;
  serviceAccount: string;
  podName?: string | undefined;
  podUid?: string | undefined;
  nodeName?: string | undefined;
  roles: readonly string[];
  apps: readonly AppSpec[];
  tokenName: string;
  agentVersion: string;
  notAfter: Date;
}

/** The key of an agent in the inventory: one record per workload identity and host. */
export function agentKey(namespace: string, hostId: string): string {
  return `${namespace}/${hostId}`;
}

/** Merges a join into the agent's previous record (keeping its first join), or starts one. */
export function nextRecord(previous: AgentRecord | undefined, facts: JoinFacts, now: number, graceMs: number): AgentRecord {
  const at = new Date(now).toISOString();
  return {
    hostId: facts.hostId,
    namespace: facts.namespace,
    serviceAccount: facts.serviceAccount,
    ...(facts.podName !== undefined ? { podName: facts.podName } : {}),
    ...(facts.podUid !== undefined ? { podUid: facts.podUid } : {}),
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
