import { Agent } from 'node:https';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import got, { type Got, type Method } from 'got';
import { startAuthService, type AuthService } from '../../src/auth/service.ts';
import { resolveAuthConfig } from '../../src/auth/config.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { Pkcs10CertificateRequest } from '../../src/common/x509.ts';
import { createCsrPem, generateKey } from '../../src/agent/keys.ts';
import { JOIN_PATH } from '../../src/protocol/index.ts';
import type { Answer } from './fuzz.ts';
import { jwtFixture, type JwtFixture } from './jwt-mutations.ts';

/**
 * The auth service started in this process on 127.0.0.1:0 with file storage in a temporary state
 * directory, join rate limits raised out of the way, and two HTTPS clients on keep-alive connections
 * that trust its CA: `client` (no client certificate, as an agent joins) and `admin` (the admin
 * identity the service wrote into its state directory, as `kube-join token ...` uses it).
 */
export interface InProcessAuth {
  service: AuthService;
  stateDir: string;
  base: string;
  /** The CA certificate (PEM) clients trust. */
  caPem: string;
  client: Got;
  admin: Got;
  /** Sends `body` raw and returns the answer; never throws for an HTTP status. */
  send(http: Got, method: Method, path: string, body?: string | Buffer, headers?: Record<string, string>): Promise<Answer>;
  close(): Promise<void>;
}

export async function startInProcessAuth(clusterName: string): Promise<InProcessAuth> {
  const dir = await mkdtemp(join(tmpdir(), 'kj-fuzz-'));
  const stateDir = join(dir, 'auth');
  let service: AuthService | undefined;
  const agents = [new Agent({ keepAlive: true }), new Agent({ keepAlive: true })] as const;
  const close = async () => {
    for (const agent of agents) agent.destroy();
    await service?.close();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const flags = { stateDir, listen: '127.0.0.1:0', metricsAddr: '127.0.0.1:0', clusterName, joinRatePerSource: 1e6, joinRateGlobal: 1e6 };
    service = await startAuthService(resolveAuthConfig({ flags, env: {} }), { logger: silentLogger(), now: () => Date.now(), processMetrics: false });
    const identity = join(stateDir, 'admin');
    const [key, certificate, ca] = await Promise.all(['tls.key', 'tls.crt', 'ca.crt'].map((f) => readFile(join(identity, f), 'utf8'))) as [string, string, string];
    const common = { throwHttpErrors: false, retry: { limit: 0 }, timeout: { request: 10_000 } } as const;
    const client = got.extend({ ...common, https: { certificateAuthority: ca }, agent: { https: agents[0] } });
    const admin = got.extend({ ...common, https: { certificateAuthority: ca, key, certificate }, agent: { https: agents[1] } });
    const base = `https://127.0.0.1:${service.address.port}`;
    return {
      service,
      stateDir,
      base,
      caPem: ca,
      client,
      admin,
      async send(http, method, path, body, headers = {}) {
        const r = await http(`${base}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
        return { statusCode: r.statusCode, headers: r.headers, body: r.body };
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** The provision token the join fixtures create, and one that has expired. */
export const JOIN_TOKEN = 'fuzz-token';
export const EXPIRED_TOKEN = 'expired-token';

/**
 * An in-process auth service holding a static_jwks provision token (`JOIN_TOKEN`, roles App and Db) for
 * the fixture's issuer, an expired one, and a valid join request body for it (`validBody`).
 */
export interface JoinFixture {
  auth: InProcessAuth;
  jwt: JwtFixture;
  csrPem: string;
  /** The CSR's SubjectPublicKeyInfo, DER. */
  csrSpki: Buffer;
  validBody(): Record<string, unknown>;
  /** POSTs `body` (JSON-encoded unless a string or Buffer) to /v1/join. */
  join(body: unknown, contentType?: string): Promise<Answer>;
  close(): Promise<void>;
}

export async function startJoinFixture(clusterName: string): Promise<JoinFixture> {
  const jwt = await jwtFixture(clusterName);
  let auth: InProcessAuth | undefined;
  try {
    auth = await startInProcessAuth(clusterName);
    await auth.service.storage.putToken(jwt.provisionToken(JOIN_TOKEN), { overwrite: false });
    await auth.service.storage.putToken(jwt.provisionToken(EXPIRED_TOKEN, '2020-01-01T00:00:00Z'), { overwrite: false });
    const csrPem = await createCsrPem(await generateKey('ecdsa-p256'), 'fuzz-host');
    const running = auth;
    return {
      auth: running,
      jwt,
      csrPem,
      csrSpki: Buffer.from(new Pkcs10CertificateRequest(csrPem).publicKey.rawData),
      validBody: () => ({
        tokenName: JOIN_TOKEN,
        joinMethod: 'kubernetes',
        kubernetesToken: jwt.token,
        csr: csrPem,
        roles: ['App'],
        nodeName: 'node-1',
        apps: [{ name: 'web', uri: 'http://localhost:8080', labels: { tier: 'front' } }],
        ttlSeconds: 600,
        agentVersion: '0.1.0-fuzz',
      }),
      join: (body, contentType = 'application/json') =>
        running.send(running.client, 'POST', JOIN_PATH, typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body), { 'content-type': contentType }),
      async close() {
        await running.close();
        await jwt.close();
      },
    };
  } catch (err) {
    await auth?.close();
    await jwt.close();
    throw err;
  }
}
