import { createHmac, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import fc from 'fast-check';
import type { JSONWebKeySet, JWK } from 'jose';
import { parseProvisionToken, type ProvisionToken } from '../../src/auth/tokens.ts';
import { createTokenIssuer, type MintOptions, type TokenIssuer } from '../../src/demo/index.ts';
import { tokenYaml } from './kube-join.ts';

/** The codes a validator may refuse a ServiceAccount token with. */
export const TOKEN_REFUSALS = ['kube_token_invalid', 'audience_mismatch', 'legacy_token_rejected'] as const;

const b64 = (bytes: Uint8Array | string) => Buffer.from(bytes).toString('base64url');
const json64 = (value: unknown) => b64(JSON.stringify(value));
const unb64 = (text: string) => Buffer.from(text, 'base64url');

/**
 * A valid pod-bound token minted by the test issuer, and a second RS256 key in the same JWKS (as when a
 * cluster rotates keys) whose private half the tests hold, to sign claims the issuer would never write.
 */
export interface JwtFixture {
  issuer: TokenIssuer;
  audience: string;
  pod: Required<Pick<MintOptions, 'namespace' | 'serviceAccount' | 'podName' | 'podUid'>>;
  /** Minted by the issuer; `segments` are its three parts. */
  token: string;
  segments: [string, string, string];
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
  /** Another valid token from the issuer (other pod UID): a signature to swap in. */
  otherSignature: string;
  /** The public key of the issuer's token, for algorithm-confusion attempts. */
  issuerPublicKey: KeyObject;
  resign: { kid: string; privateKey: KeyObject };
  jwks: JSONWebKeySet;
  /** A static_jwks provision token holding `jwks`, allowing the pod's ServiceAccount, granting App and Db. */
  provisionToken(name: string, expires?: string): ProvisionToken;
  close(): Promise<void>;
}

export async function jwtFixture(audience: string): Promise<JwtFixture> {
  const issuer = await createTokenIssuer();
  const pod = { namespace: 'teleport-agent', serviceAccount: 'teleport-app-service', podName: 'app-1', podUid: 'uid-1' };
  // 1800 s: the longest lifetime the auth accepts, so the token stays valid however long the run takes.
  const token = await issuer.mint({ ...pod, audience, ttlSeconds: 1800 });
  const other = await issuer.mint({ ...pod, podUid: 'uid-2', audience, ttlSeconds: 1800 });
  const segments = token.split('.') as [string, string, string];
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = 'fuzz-second-key';
  const issuerJwk = issuer.jwks().keys[0] as JWK;
  const jwks: JSONWebKeySet = { keys: [...issuer.jwks().keys, { ...(publicKey.export({ format: 'jwk' }) as JWK), kid, alg: 'RS256', use: 'sig' }] };
  return {
    issuer,
    audience,
    pod,
    token,
    segments,
    header: JSON.parse(unb64(segments[0]).toString()) as Record<string, unknown>,
    claims: JSON.parse(unb64(segments[1]).toString()) as Record<string, unknown>,
    otherSignature: other.split('.')[2] as string,
    issuerPublicKey: createPublicKey({ key: issuerJwk, format: 'jwk' }),
    resign: { kid, privateKey },
    jwks,
    provisionToken: (name, expires) => parseProvisionToken(tokenYaml({ name, jwks, allow: [`${pod.namespace}:${pod.serviceAccount}`], roles: ['App', 'Db'], ...(expires ? { expires } : {}) }), Date.now()),
    close: () => issuer.close(),
  };
}

/** Signs `claims` (any JSON) with the fixture's second key, as RS256 under its kid. */
export function resigned(f: JwtFixture, claims: unknown, header: Record<string, unknown> = { alg: 'RS256', kid: f.resign.kid }): string {
  const input = `${json64(header)}.${json64(claims)}`;
  return `${input}.${b64(sign('sha256', Buffer.from(input), f.resign.privateKey))}`;
}

/**
 * Whether `token` is the original one in all that is signed and verified: the same signed text, and a
 * signature segment that decodes to the same bytes (base64url's spare bits can differ). Such a "mutation"
 * is not one.
 */
export function isNoOp(f: JwtFixture, token: string): boolean {
  const parts = token.split('.');
  return parts.length === 3 && parts[0] === f.segments[0] && parts[1] === f.segments[1] && unb64(parts[2] as string).equals(unb64(f.segments[2]));
}

/** Any JSON, and the values that trip claim checks: wrong types, empty, huge, negative. */
const oddJson: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(null, '', ' ', 0, -1, 1e300, -1e300, 0.5, true, [], {}, ['x'], 'none', 'HS256', 'RS256', 'ES256'),
);

const now = () => Math.floor(Date.now() / 1000);

type Claims = Record<string, unknown>;

/** Header changes on the issuer's token (the signature stays): alg, kid, typ, crit and friends. */
function headerMutation(f: JwtFixture): fc.Arbitrary<string> {
  const field = fc.constantFrom('alg', 'kid', 'typ', 'crit', 'b64', 'jwk', 'jku', 'x5u', 'x5c', 'cty', 'zip', 'enc', 'extra');
  const value = fc.oneof(
    oddJson,
    fc.constantFrom('none', 'None', 'NONE', 'HS256', 'HS512', 'RS384', 'RS512', 'PS256', 'ES256', 'EdDSA', 'rs256', 'RS256 ', 'dir'),
    fc.constantFrom(['exp'], ['b64'], ['kid'], [''], 'JWT', 'at+jwt', f.resign.kid, ''),
    fc.constant(f.issuerPublicKey.export({ format: 'jwk' })),
  );
  const change = fc.record({ field, value: fc.option(value, { nil: undefined, freq: 5 }) });
  return fc.array(change, { minLength: 1, maxLength: 3 }).map((changes) => {
    const header: Record<string, unknown> = { ...f.header };
    for (const { field: k, value: v } of changes) {
      if (v === undefined) delete header[k];
      else header[k] = v;
    }
    return `${json64(header)}.${f.segments[1]}.${f.segments[2]}`;
  });
}

/** alg "none" and HS256/HS384 signed with the issuer's public key (PEM, DER or JWK text) as the secret. */
function algorithmConfusion(f: JwtFixture): fc.Arbitrary<string> {
  const secrets = [
    f.issuerPublicKey.export({ format: 'pem', type: 'spki' }),
    f.issuerPublicKey.export({ format: 'pem', type: 'pkcs1' }),
    f.issuerPublicKey.export({ format: 'der', type: 'spki' }),
    JSON.stringify(f.issuerPublicKey.export({ format: 'jwk' })),
    JSON.stringify(f.jwks),
    '',
  ];
  const alg = fc.constantFrom('none', 'None', 'HS256', 'HS384', 'HS512');
  const kid = fc.constantFrom(f.header.kid, f.resign.kid, undefined);
  return fc.tuple(alg, kid, fc.constantFrom(...secrets), fc.constantFrom('empty', 'original', 'hmac')).map(([a, k, secret, sig]) => {
    const header = { alg: a, ...(k !== undefined ? { kid: k } : {}), typ: 'JWT' };
    const input = `${json64(header)}.${f.segments[1]}`;
    if (sig === 'empty') return `${input}.`;
    if (sig === 'original') return `${input}.${f.segments[2]}`;
    const hash = a === 'HS384' ? 'sha384' : a === 'HS512' ? 'sha512' : 'sha256';
    return `${input}.${b64(createHmac(hash, secret).update(input).digest())}`;
  });
}

/** Every claim the validator reads (and some it does not), changed or removed; the signature stays. */
function payloadMutation(f: JwtFixture): fc.Arbitrary<string> {
  const path = fc.constantFrom(['aud'], ['exp'], ['iat'], ['nbf'], ['sub'], ['iss'], ['jti'], ['extra'], ['kubernetes.io'], ['kubernetes.io', 'namespace'], ['kubernetes.io', 'pod'], ['kubernetes.io', 'pod', 'name'], ['kubernetes.io', 'pod', 'uid'], ['kubernetes.io', 'serviceaccount', 'name'], ['kubernetes.io', 'serviceaccount', 'uid'], ['kubernetes.io/serviceaccount/namespace']);
  const value = fc.oneof(oddJson, fc.constantFrom(f.audience, [f.audience, 'x'], 'system:serviceaccount:kube-system:admin', 'kube-system', 'admin', f.pod.podName), fc.integer({ min: now() - 4000, max: now() + 4000 }));
  const change = fc.record({ path, value: fc.option(value, { nil: undefined, freq: 4 }) });
  return fc.tuple(fc.array(change, { minLength: 1, maxLength: 3 }), fc.boolean()).map(([changes, asText]) => {
    const claims = structuredClone(f.claims);
    for (const { path: p, value: v } of changes) setPath(claims, p, v);
    // Compact JSON as the issuer writes it, or the same claims with other whitespace.
    return `${f.segments[0]}.${asText ? b64(JSON.stringify(claims, null, 1)) : json64(claims)}.${f.segments[2]}`;
  });
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node: Record<string, unknown> = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (next === null || typeof next !== 'object') node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  const last = path[path.length - 1] as string;
  if (value === undefined) delete node[last];
  else node[last] = value;
}

/** Signature bit flips, truncation, swaps, and damage to the compact form itself. */
function signatureMutation(f: JwtFixture): fc.Arbitrary<string> {
  const sig = unb64(f.segments[2]);
  const [h, p, s] = f.segments;
  const flips = fc.uniqueArray(fc.integer({ min: 0, max: sig.length * 8 - 1 }), { minLength: 1, maxLength: 8 }).map((bits) => {
    const out = Buffer.from(sig);
    for (const bit of bits) out[bit >> 3] = (out[bit >> 3] as number) ^ (0x80 >> (bit & 7));
    return `${h}.${p}.${b64(out)}`;
  });
  const truncated = fc.integer({ min: 0, max: sig.length - 1 }).map((n) => `${h}.${p}.${b64(sig.subarray(0, n))}`);
  const textCut = fc.integer({ min: 0, max: f.token.length - 1 }).map((n) => f.token.slice(0, n));
  const charEdit = fc.tuple(fc.nat(), fc.constantFrom('A', 'B', '_', '-', '=', '.', ' ', '+', '/', '%', '\n', '')).map(([at, c]) => {
    const i = at % f.token.length;
    return f.token.slice(0, i) + c + f.token.slice(i + 1);
  });
  const shapes = fc.constantFrom(
    `${h}.${p}.${f.otherSignature}`,
    `${h}.${p}.${s}${s}`,
    `${h}.${p}`,
    `${h}.${p}.`,
    `${h}.${p}.${s}.${s}`,
    `${p}.${h}.${s}`,
    `${h}.${h}.${s}`,
    `${h}..${s}`,
    `.${p}.${s}`,
    `${h}.${p}.${s}=`,
    `${h}.${p}.${Buffer.from(sig).toString('base64')}`,
    `Bearer ${f.token}`,
    ` ${f.token}`,
    `${f.token}\n`,
    `${h}.${b64(JSON.stringify(f.claims))}.${s}`,
    `${h}.${b64('')}.${s}`,
    `${h}.${b64('null')}.${s}`,
    `${h}.${b64('[]')}.${s}`,
  );
  return fc.oneof(flips, truncated, textCut, charEdit, shapes);
}

/**
 * Structural mutations of the issuer's token (header, algorithm, payload, signature, compact form), none
 * re-signed by a trusted key; filter with `isNoOp` before expecting a refusal.
 */
export function unsignedMutation(f: JwtFixture): fc.Arbitrary<string> {
  return fc.oneof(headerMutation(f), algorithmConfusion(f), payloadMutation(f), signatureMutation(f));
}

export { headerMutation, algorithmConfusion, payloadMutation, signatureMutation };

/**
 * Claims a validator must refuse, correctly signed by a key of the JWKS: wrong or missing audience,
 * expired, not yet valid, too long-lived, missing exp/iat/sub, a subject that is no ServiceAccount or
 * disagrees with the kubernetes.io claim, no pod binding, legacy claims. Extra unknown claims ride along.
 */
export function refusedClaims(f: JwtFixture): fc.Arbitrary<Record<string, unknown>> {
  const t = now();
  const k8s = f.claims['kubernetes.io'] as Record<string, unknown>;
  const sub = f.claims.sub as string;
  const otherName = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?$/);
  const notAudience = fc.oneof(
    fc.string({ maxLength: 20 }).filter((a) => a !== f.audience),
    fc.array(fc.string({ maxLength: 10 }).filter((a) => a !== f.audience), { maxLength: 3 }),
    fc.constantFrom(f.audience.toUpperCase(), ` ${f.audience}`, `${f.audience} `, `${f.audience}/`, `https://${f.audience}`, null, 0, {}, [[f.audience]]),
  );
  // The kubernetes.io object when an earlier change left one.
  const k8sOf = (c: Claims) => {
    const v = c['kubernetes.io'];
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  };
  const change: fc.Arbitrary<(c: Claims) => void> = fc.oneof(
    notAudience.map((aud) => (c: Claims) => void (c.aud = aud)),
    fc.constant((c: Claims) => void delete c.aud),
    fc.integer({ min: 11, max: 100_000 }).map((ago) => (c: Claims) => Object.assign(c, { exp: t - ago - 5, iat: t - ago - 605, nbf: t - ago - 605 })),
    fc.constantFrom('exp', 'iat', 'sub').map((claim) => (c: Claims) => void delete c[claim]),
    fc.tuple(fc.constantFrom('exp', 'iat', 'nbf'), fc.constantFrom('soon', null, true, [], {}, '1700000000')).map(([claim, v]) => (c: Claims) => void (c[claim] = v)),
    fc.integer({ min: 15, max: 100_000 }).map((ahead) => (c: Claims) => void (c.nbf = t + ahead)),
    fc.integer({ min: 1811, max: 10_000_000 }).map((life) => (c: Claims) => void (c.iat = (c.exp as number) - life)),
    fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('system:serviceaccount:teleport-agent', 'system:serviceaccount:a:b:c', 'system:node:n1', `${sub} `, 42, null)).filter((s) => s !== sub).map((s) => (c: Claims) => void (c.sub = s)),
    fc.tuple(otherName, fc.boolean()).filter(([n]) => n !== f.pod.namespace && n !== f.pod.serviceAccount).map(([name, ns]) => (c: Claims) => {
      c.sub = ns ? `system:serviceaccount:${name}:${f.pod.serviceAccount}` : `system:serviceaccount:${f.pod.namespace}:${name}`;
    }),
    fc.constantFrom('namespace', 'pod', 'serviceaccount', 'all').map((part) => (c: Claims) => {
      if (part === 'all') delete c['kubernetes.io'];
      else delete k8sOf(c)[part];
    }),
    oddJson.filter((v) => v === null || typeof v !== 'object' || Array.isArray(v)).map((v) => (c: Claims) => void (c['kubernetes.io'] = v)),
    fc.tuple(fc.constantFrom('namespace', 'serviceaccount', 'pod'), oddJson).filter(([, v]) => (typeof v !== 'object' || v === null) && v !== f.pod.namespace).map(([part, v]) => (c: Claims) => void (k8sOf(c)[part] = v)),
    otherName.filter((n) => n !== f.pod.namespace).map((ns) => (c: Claims) => void (k8sOf(c).namespace = ns)),
    fc.constant((c: Claims) => {
      delete c['kubernetes.io'];
      Object.assign(c, { iss: 'kubernetes/serviceaccount', 'kubernetes.io/serviceaccount/namespace': f.pod.namespace, 'kubernetes.io/serviceaccount/service-account.name': f.pod.serviceAccount });
    }),
  );
  const extra = fc.dictionary(fc.string({ maxLength: 8 }).filter((k) => !(k in f.claims) && !k.startsWith('kubernetes.io')), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 });
  return fc.tuple(fc.array(change, { minLength: 1, maxLength: 2 }), extra).map(([changes, more]) => {
    const claims: Record<string, unknown> = { ...structuredClone(f.claims), 'kubernetes.io': structuredClone(k8s), ...more };
    for (const apply of changes) apply(claims);
    return claims;
  }).filter((claims) => !namesAnotherPod(f, claims));
}

/**
 * True when two changes together (say, one to `sub` and one to `kubernetes.io.namespace`) agree on a new,
 * consistent identity: a token the validator rightly accepts, since which identities may join is the
 * provision token's allow list, checked after the validator.
 */
function namesAnotherPod(f: JwtFixture, claims: Record<string, unknown>): boolean {
  const k8s = claims['kubernetes.io'] as { namespace?: unknown; serviceaccount?: { name?: unknown } } | null | undefined;
  if (k8s === null || typeof k8s !== 'object' || typeof k8s.namespace !== 'string') return false;
  const sa = k8s.serviceaccount;
  if (sa === null || typeof sa !== 'object' || typeof sa.name !== 'string') return false;
  const sameAsFixture = k8s.namespace === f.pod.namespace && sa.name === f.pod.serviceAccount;
  return !sameAsFixture && claims.sub === `system:serviceaccount:${k8s.namespace}:${sa.name}`;
}

/** Claims issued in the future beyond the 10 s leeway (no nbf), or that expire before they were issued. */
export function futureIssuedClaims(f: JwtFixture): fc.Arbitrary<Record<string, unknown>> {
  const t = now();
  return fc.oneof(
    fc.tuple(fc.integer({ min: 15, max: 100_000 }), fc.integer({ min: 1, max: 1800 })).map(([ahead, life]) => ({ iat: t + ahead, exp: t + ahead + life })),
    fc.tuple(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 60, max: 600 })).map(([backwards, left]) => ({ iat: t + left + backwards, exp: t + left })),
  ).map((times) => {
    const claims: Record<string, unknown> = { ...structuredClone(f.claims), ...times };
    delete claims.nbf;
    return claims;
  });
}

/**
 * Pod-bound claims whose names Kubernetes could never have issued: an empty pod UID, a namespace that is
 * not a DNS-1123 label, a ServiceAccount or pod name that is not a DNS-1123 subdomain (empty, spaces,
 * line breaks, slashes), consistent between `sub` and `kubernetes.io` so only a name check can refuse them.
 */
export function nonKubernetesNames(f: JwtFixture): fc.Arbitrary<Record<string, unknown>> {
  const bad = fc.oneof(
    fc.constantFrom('', ' ', 'a b', 'a\nb', 'UPPER', '../x', 'a/b', '-a', 'a-', 'a'.repeat(300), 'é', '\u0000'),
    fc.string({ unit: fc.constantFrom('a', '-', '.', ' ', '\n', '/', 'A', '_', '\t'), minLength: 1, maxLength: 8 }).filter((s) => !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(s)),
  );
  const change = fc.oneof(fc.tuple(fc.constantFrom('namespace', 'serviceaccount', 'podName'), bad), fc.constant(['podUid', ''] as const));
  return change.map(([part, value]) => {
    const claims = structuredClone(f.claims);
    const k8s = claims['kubernetes.io'] as { namespace: string; serviceaccount: { name: string }; pod: { name: string; uid: string } };
    if (part === 'namespace') k8s.namespace = value;
    if (part === 'serviceaccount') k8s.serviceaccount.name = value;
    if (part === 'podName') k8s.pod.name = value;
    if (part === 'podUid') k8s.pod.uid = value;
    claims.sub = `system:serviceaccount:${k8s.namespace}:${k8s.serviceaccount.name}`;
    return claims;
  });
}
