import type { AgentRecord } from '../../protocol/index.ts';
import type { StoredCa } from '../ca.ts';
import type { ProvisionToken } from '../tokens.ts';

/** The CA record: `ca` is the current CA (ca.crt, ca.key); `rotationJson` supersedes it when present. */
export interface StoredCaRecord {
  ca: StoredCa;
  rotationJson: string | undefined;
  /** Opaque: the Secret's resourceVersion, or a hash of the files. */
  version: string;
}

/**
 * Where the auth service keeps its state: one small record per CA, per token (and, later, per agent),
 * never one big object, so that backends like Kubernetes Secrets scale and do not conflict.
 */
export interface AuthStorage {
  /** The CA, or undefined before the first start. */
  getCa(): Promise<StoredCa | undefined>;
  /** Stores the CA only if none exists; returns the one that is stored (ours or a racing writer's). */
  createCa(ca: StoredCa): Promise<StoredCa>;
  /**
   * The CA record as a whole: the current CA, the rotation state (JSON, undefined before the first
   * rotation) and a version for compare-and-swap; undefined before the first start.
   */
  getCaRecord(): Promise<StoredCaRecord | undefined>;
  /**
   * Replaces the CA record if it is still at `version` (what getCaRecord returned): one replica drives a
   * rotation, and a racing one gets CaRecordConflictError instead of overwriting it.
   */
  putCaRecord(record: { ca: StoredCa; rotationJson: string }, version: string): Promise<void>;
  getToken(name: string): Promise<ProvisionToken | undefined>;
  /** Throws TokenExistsError when the name is taken and `overwrite` is not set. */
  putToken(token: ProvisionToken, options: { overwrite: boolean }): Promise<void>;
  listTokens(): Promise<ProvisionToken[]>;
  /** Throws TokenNotFoundError when absent. */
  deleteToken(name: string): Promise<void>;
  getAgent(key: string): Promise<AgentRecord | undefined>;
  putAgent(key: string, record: AgentRecord): Promise<void>;
  /** Every stored record, live or not (the caller filters and prunes). */
  listAgents(): Promise<{ key: string; record: AgentRecord }[]>;
  /** The stored records of one ServiceAccount, live or not, without reading the whole inventory. */
  listAgentsOf(namespace: string, serviceAccount: string): Promise<{ key: string; record: AgentRecord }[]>;
  deleteAgent(key: string): Promise<void>;
  /** Cheap check that the backend answers, for /readyz. */
  ping(): Promise<void>;
  /**
   * Cheap check that the backend takes writes, for /readyz (cached there, never run per request):
   * leaves nothing behind. Throws StorageError naming the problem (a read-only or full state
   * directory, a missing permission to create Secrets).
   */
  probeWrite(): Promise<void>;
  close(): Promise<void>;
}
