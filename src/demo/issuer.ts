import { createServer, type Server } from 'node:http';
import { createHash } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair, calculateJwkThumbprint, type JSONWebKeySet, type CryptoKey as JoseKey } from 'jose';
import { writeFileAtomic } from '../common/fs.ts';
import { listen, type Listening } from '../common/listen.ts';
import { formatHostPort } from '../common/host-port.ts';

/** The pod a token is bound to, as the kubelet's projected token names it. */
export interface PodBinding {
  namespace: string;
  serviceAccount: string;
  podName?: string;
  podUid?: string;
  serviceAccountUid?: string;
}

export interface MintOptions extends PodBinding {
  audience: string | string[];
  /** Lifetime in seconds (a kubelet projects 600 by default in our chart). */
  ttlSeconds?: number;
  /** Issue time in seconds since epoch (default: now). */
  iat?: number;
  /** Leave out the pod claim, like a TokenRequest with no bound object. */
  unbound?: boolean;
}

/**
 * A stand-in for the apiserver's ServiceAccount token signer, for the demo and tests: signs JWTs with
 * the claims a kubelet-projected token carries, serves its JWKS (and OIDC discovery) over HTTP, writes
 * tokens to a file and rotates them, and can rotate its own signing key.
 */
export interface TokenIssuer {
  /** `iss` of every token (the HTTP address when serving, else a fixed URL). */
  readonly issuerUrl: string;
  /** Public keys, current first; a rotated-out key stays until `dropOldKeys`. */
  jwks(): JSONWebKeySet;
  mint(options: MintOptions): Promise<string>;
  /** Writes a fresh token to `path` atomically (as the kubelet does) and returns it. */
  writeToken(path: string, options: MintOptions): Promise<string>;
  /** Makes a new signing key; tokens minted after this use it. */
  rotateKey(): Promise<void>;
  dropOldKeys(): void;
  close(): Promise<void>;
}

interface SigningKey {
  kid: string;
  privateKey: JoseKey;
  publicJwk: Record<string, unknown>;
}

async function newKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { kid, privateKey, publicJwk: { ...jwk, kid, alg: 'RS256', use: 'sig' } };
}

export async function createTokenIssuer(options: { serve?: { host: string; port: number }; now?: () => number } = {}): Promise<TokenIssuer> {
  const now = options.now ?? (() => Date.now());
  let keys: SigningKey[] = [await newKey()];
  let server: Server | undefined;
  let listening: Listening | undefined;
  let issuerUrl = 'https://kubernetes.default.svc.cluster.local';
  const jwks = (): JSONWebKeySet => ({ keys: keys.map((k) => k.publicJwk) as JSONWebKeySet['keys'] });

  if (options.serve) {
    server = createServer((req, res) => {
      const body =
        req.url === '/.well-known/openid-configuration'
          ? { issuer: issuerUrl, jwks_uri: `${issuerUrl}/openid/v1/jwks`, response_types_supported: ['id_token'], subject_types_supported: ['public'], id_token_signing_alg_values_supported: ['RS256'] }
          : req.url === '/openid/v1/jwks'
            ? jwks()
            : undefined;
      res.writeHead(body ? 200 : 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body ?? { error: 'not found' }));
    });
    listening = await listen(server, options.serve.host, options.serve.port);
    const { host, port } = listening.address;
    issuerUrl = `http://${formatHostPort(host, port)}`;
  }

  // As in a cluster, a rotated token of the same pod carries the same UIDs: the auth keys records by them.
  const stableUid = (...parts: string[]) => {
    const h = createHash('sha256').update(parts.join('/')).digest('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
  };

  const mint = async (m: MintOptions): Promise<string> => {
    const key = keys[0] as SigningKey;
    const podName = m.podName ?? `${m.serviceAccount}-pod`;
    const iat = m.iat ?? Math.floor(now() / 1000);
    const claims: Record<string, unknown> = {
      'kubernetes.io': {
        namespace: m.namespace,
        serviceaccount: { name: m.serviceAccount, uid: m.serviceAccountUid ?? stableUid('serviceaccount', m.namespace, m.serviceAccount) },
        ...(m.unbound ? {} : { pod: { name: podName, uid: m.podUid ?? stableUid('pod', m.namespace, podName) } }),
      },
    };
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: key.kid })
      .setIssuer(issuerUrl)
      .setSubject(`system:serviceaccount:${m.namespace}:${m.serviceAccount}`)
      .setAudience(m.audience)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + (m.ttlSeconds ?? 600))
      .sign(key.privateKey);
  };

  return {
    get issuerUrl() {
      return issuerUrl;
    },
    jwks,
    mint,
    async writeToken(path, m) {
      const token = await mint(m);
      await writeFileAtomic(path, token, 0o600);
      return token;
    },
    async rotateKey() {
      keys = [await newKey(), ...keys];
    },
    dropOldKeys() {
      keys = keys.slice(0, 1);
    },
    close: async () => {
      await listening?.close();
    },
  };
}
