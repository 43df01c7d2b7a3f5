import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createCsrPem, generateKey } from '../src/agent/keys.ts';
import { createCa, createStaticJwksValidator, decideJoin, issueLeaf, loadCa, openFileStorage } from '../src/auth/index.ts';
import { verifiedCsrKey } from '../src/auth/csr.ts';
import { AGENT_VERSION, JoinRequestSchema } from '../src/protocol/index.ts';
import type { TokenIssuer } from '../src/demo/index.ts';
import { CLUSTER, createProvisionToken, mintFor, TOKEN_NAME } from './lib/env.ts';

export interface Cost {
  step: string;
  cpuMs: number;
}

async function cpuPerCall(n: number, fn: () => Promise<unknown> | unknown): Promise<number> {
  for (let i = 0; i < Math.min(50, n); i++) await fn();
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) await fn();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000 / n;
}

/**
 * Where one join's CPU goes in the auth service, measured in this process with the product's own
 * functions (file storage in `dir`, the static_jwks validator, the CA code), one call at a time.
 */
export async function measureAuthJoinCosts(issuer: TokenIssuer, dir: string, n: number): Promise<Cost[]> {
  const stateDir = join(dir, 'costs-state');
  await createProvisionToken(stateDir, issuer);
  const storage = await openFileStorage(stateDir, { serve: false, now: () => Date.now() });
  try {
    const ca = await loadCa(await createCa(CLUSTER, Date.now()));
    const validator = createStaticJwksValidator({ audience: CLUSTER });
    const jwt = await mintFor(issuer, 7);
    const csrPem = await createCsrPem(await generateKey('ecdsa-p256'), 'cost');
    const token = await storage.getToken(TOKEN_NAME);
    if (!token) throw new Error('auth costs: provision token missing');
    const body = { tokenName: TOKEN_NAME, joinMethod: 'kubernetes', kubernetesToken: jwt, csr: csrPem, agentVersion: AGENT_VERSION };
    const text = JSON.stringify(body);
    const leafRequest = { csrPem, hostId: 'cost', binding: { podUid: 'cost-uid', tokenName: TOKEN_NAME }, namespace: 'bench', serviceAccount: 'agent', roles: ['App'], trustDomain: CLUSTER, ttlMs: 3_600_000, now: Date.now() };
    const ctx = { storage, validators: { static_jwks: validator }, authority: () => ({ signing: ca, bundlePem: ca.certPem }), clusterName: CLUSTER, certTtlMs: 3_600_000, maxCertTtlMs: 86_400_000, now: () => Date.now() };
    const costs: Cost[] = [
      { step: 'request body JSON.parse + zod JoinRequestSchema', cpuMs: await cpuPerCall(n, () => JoinRequestSchema.safeParse(JSON.parse(text))) },
      { step: 'provision token lookup (stat + parsed token cached per file version)', cpuMs: await cpuPerCall(n, () => storage.getToken(TOKEN_NAME)) },
      { step: '  (of which the stat() that detects a changed token file)', cpuMs: await cpuPerCall(n, () => stat(join(stateDir, 'tokens', `${TOKEN_NAME}.yaml`))) },
      { step: 'ServiceAccount JWT verify + claims (jose, static_jwks)', cpuMs: await cpuPerCall(n, () => validator.validate(jwt, token)) },
      { step: 'CSR parse (asn1js) + key check + signature verify (node:crypto)', cpuMs: await cpuPerCall(n, () => verifiedCsrKey(csrPem)) },
      { step: 'issueLeaf total (CSR checks + leaf template encoded by asn1js + node:crypto sign)', cpuMs: await cpuPerCall(n, () => issueLeaf(ca, leafRequest)) },
      { step: 'decideJoin total (token, JWT, allow, roles, issueLeaf)', cpuMs: await cpuPerCall(n, () => decideJoin(ctx as Parameters<typeof decideJoin>[0], body as Parameters<typeof decideJoin>[1])) },
    ];
    return costs;
  } finally {
    await storage.close();
  }
}
