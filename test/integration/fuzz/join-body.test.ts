import assert from 'node:assert/strict';
import fc from 'fast-check';
import { JoinResponseSchema, MAX_JOIN_BODY_BYTES, type ProblemCode } from '../../../src/protocol/index.ts';
import { EXPIRED_TOKEN, JOIN_TOKEN, startJoinFixture, type JoinFixture } from '../../support/auth-service.ts';
import { assertProblem, fuzzParameters } from '../../support/fuzz.ts';
import { validTokenName } from '../../support/token-docs.ts';
import { createCsrPem, generateKey } from '../../../src/agent/keys.ts';

const CLUSTER = 'fuzz-join';
const TOKEN_ROLES = ['App', 'Db'];
/** Role names match case-insensitively and are granted in the token's spelling. */
const canonical = (role: string) => TOKEN_ROLES.find((r) => r.toLowerCase() === role.toLowerCase());
const FIELDS = ['tokenName', 'joinMethod', 'kubernetesToken', 'csr', 'roles', 'hostId', 'nodeName', 'apps', 'ttlSeconds', 'agentVersion'] as const;
const REQUIRED = new Set(['tokenName', 'joinMethod', 'kubernetesToken', 'csr', 'agentVersion']);

/** What the auth service must answer: 200, or a refusal's status and code. */
type Expected = { status: 200; code?: undefined } | { status: number; code: ProblemCode };
const BAD_REQUEST: Expected = { status: 400, code: 'bad_request' };

const isString = (v: unknown, min: number, max: number): v is string => typeof v === 'string' && v.length >= min && v.length <= max;
const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const HOSTISH = /^[A-Za-z0-9._-]+$/;

/** The wire protocol's rules for one app (DESIGN §3, src/protocol/schemas.ts), written out again. */
function isApp(v: unknown): boolean {
  if (!isPlainObject(v) || Object.keys(v).some((k) => !['name', 'uri', 'labels'].includes(k))) return false;
  if (!isString(v.name, 1, 63) || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(v.name) || !isString(v.uri, 1, 2048)) return false;
  return !('labels' in v) || (isPlainObject(v.labels) && Object.entries(v.labels).every(([k, x]) => k.length <= 63 && isString(x, 0, 253)));
}

describe('fuzz: join request bodies against POST /v1/join (in-process auth over HTTPS)', function () {
  this.timeout(120_000);
  let fx: JoinFixture;
  /** Other values a field can take whose outcome is known: tokens and CSRs made for the purpose. */
  const known = new Map<unknown, Expected>();
  let curated: Record<(typeof FIELDS)[number], unknown[]>;

  before(async () => {
    fx = await startJoinFixture(CLUSTER);
    const { jwt } = fx;
    const mint = (over: object) => jwt.issuer.mint({ ...jwt.pod, audience: CLUSTER, ...over });
    const tokens = {
      otherAudience: await mint({ audience: 'another-cluster' }),
      otherServiceAccount: await mint({ namespace: 'other-ns', serviceAccount: 'other-sa' }),
      expired: await mint({ iat: Math.floor(Date.now() / 1000) - 4000 }),
      unbound: await mint({ unbound: true }),
    };
    known.set(tokens.otherAudience, { status: 401, code: 'audience_mismatch' });
    known.set(tokens.otherServiceAccount, { status: 403, code: 'service_account_not_allowed' });
    known.set(tokens.expired, { status: 401, code: 'kube_token_invalid' });
    known.set(tokens.unbound, { status: 401, code: 'legacy_token_rejected' });
    const otherCsr = await createCsrPem(await generateKey('ecdsa-p256'), 'other');
    const rsaCsr = await createCsrPem(await generateKey('rsa-2048'), 'rsa');
    const garbageCsr = '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n';
    curated = {
      tokenName: [JOIN_TOKEN, EXPIRED_TOKEN, 'no-such-token', '../fuzz-token', 'FUZZ-TOKEN', 'a'.repeat(250), 'a'.repeat(254), ''],
      joinMethod: ['kubernetes', 'token', 'Kubernetes', 'kubernetes ', '', 'x'.repeat(65)],
      kubernetesToken: [jwt.token, ...Object.values(tokens), 'not-a-jwt', '', 'x'.repeat(16 * 1024 + 1)],
      csr: [fx.csrPem, otherCsr, rsaCsr, garbageCsr, `x${garbageCsr}`, fx.csrPem.replace(/REQUEST/g, 'REQUESTS'), fx.csrPem.replaceAll('CERTIFICATE REQUEST', 'CERTIFICATE')],
      roles: [[], ['App'], ['Db'], ['App', 'Db'], ['App', 'App'], ['Admin'], ['App', 'Admin'], ['app'], [''], Array(33).fill('App'), ['x'.repeat(65)], 'App', null],
      hostId: [jwt.pod.podName, 'other-host', 'APP-1', '', 'a/b', 'x'.repeat(254)],
      nodeName: ['node-1', 'N.1_x', '', 'a b', 'x'.repeat(253), 'x'.repeat(254)],
      apps: [[], [{ name: 'web', uri: 'x' }], [{ name: 'Web', uri: 'x' }], [{ name: 'web', uri: '' }], [{ name: 'web', uri: 'x', labels: { a: 'b' } }], [{ name: 'web', uri: 'x', labels: { ['k'.repeat(64)]: 'b' } }], [{ name: 'web', uri: 'x', port: 1 }], Array(65).fill({ name: 'a', uri: 'x' })],
      ttlSeconds: [1, 600, 7 * 24 * 3600, 7 * 24 * 3600 + 1, 0, -1, 1.5, '600'],
      agentVersion: ['1', 'x'.repeat(64), 'x'.repeat(65), ''],
    };
    for (const csr of [fx.csrPem, otherCsr, rsaCsr]) known.set(csr, { status: 200 });
    known.set(jwt.token, { status: 200 });
  });
  after(async () => {
    await fx?.close();
  });

  /**
   * The oracle, from DESIGN §3 and the order decideJoin documents: malformed body or field 400, unknown
   * token 401, expired 401, other join method 401, ServiceAccount token refused 401, ServiceAccount not
   * allowed 403, roles not granted 403, hostId that is not the token's pod 403, CSR not proving a key 400.
   */
  function expectedFor(sent: unknown, size: number): Expected {
    if (size > MAX_JOIN_BODY_BYTES) return { status: 413, code: 'bad_request' };
    if (!isPlainObject(sent)) return BAD_REQUEST;
    if (Object.keys(sent).some((k) => !(FIELDS as readonly string[]).includes(k))) return BAD_REQUEST;
    for (const field of REQUIRED) if (!(field in sent)) return BAD_REQUEST;
    const b = sent as Record<(typeof FIELDS)[number], unknown>;
    const wireValid =
      isString(b.tokenName, 1, 253) &&
      isString(b.joinMethod, 1, 64) &&
      isString(b.kubernetesToken, 1, 16 * 1024) &&
      isString(b.csr, 0, 32 * 1024) &&
      b.csr.includes('-----BEGIN CERTIFICATE REQUEST-----') &&
      (b.roles === undefined || (Array.isArray(b.roles) && b.roles.length <= 32 && b.roles.every((r) => isString(r, 1, 64)))) &&
      (b.hostId === undefined || (isString(b.hostId, 1, 253) && HOSTISH.test(b.hostId))) &&
      (b.nodeName === undefined || (isString(b.nodeName, 1, 253) && HOSTISH.test(b.nodeName))) &&
      (b.apps === undefined || (Array.isArray(b.apps) && b.apps.length <= 64 && b.apps.every(isApp))) &&
      (b.ttlSeconds === undefined || (Number.isInteger(b.ttlSeconds) && (b.ttlSeconds as number) > 0 && (b.ttlSeconds as number) <= 7 * 24 * 3600)) &&
      isString(b.agentVersion, 1, 64);
    if (!wireValid) return BAD_REQUEST;
    if (b.tokenName === EXPIRED_TOKEN) return { status: 401, code: 'token_expired' };
    if (b.tokenName !== JOIN_TOKEN) return { status: 401, code: 'token_not_found' };
    if (b.joinMethod !== 'kubernetes') return { status: 401, code: 'join_method_mismatch' };
    const proof = known.get(b.kubernetesToken) ?? { status: 401, code: 'kube_token_invalid' };
    if (proof.status !== 200) return proof;
    if ((b.roles as string[] | undefined)?.some((r) => canonical(r) === undefined)) return { status: 403, code: 'roles_not_allowed' };
    if (b.hostId !== undefined && b.hostId !== fx.jwt.pod.podName) return { status: 403, code: 'host_id_mismatch' };
    if (known.get(b.csr)?.status !== 200) return { status: 400, code: 'csr_invalid' };
    return { status: 200 };
  }

  /** Answers seen, by status and code: each property checks it reached both sides of the oracle. */
  const seen = new Map<string, number>();
  const count = (key: string) => seen.set(key, (seen.get(key) ?? 0) + 1);
  beforeEach(() => seen.clear());

  /** Posts `body` as JSON and checks the answer against the oracle; never a 5xx. */
  async function check(body: unknown): Promise<void> {
    const text = JSON.stringify(body) ?? '';
    const sent: unknown = text === '' ? undefined : JSON.parse(text);
    const expected = expectedFor(sent, Buffer.byteLength(text));
    const answer = await fx.join(text);
    count(expected.status === 200 ? '200' : `${expected.status} ${expected.code}`);
    const context = `body ${text.length > 600 ? `${text.slice(0, 600)}...` : text}`;
    if (expected.status === 200) {
      assert.equal(answer.statusCode, 200, `expected 200, got ${answer.statusCode} ${answer.body} for ${context}`);
      const response = JoinResponseSchema.parse(JSON.parse(answer.body));
      const roles = (sent as { roles?: string[] }).roles;
      assert.deepEqual(response.identity.roles, roles === undefined || roles.length === 0 ? TOKEN_ROLES : [...new Set(roles.map(canonical))]);
      assert.equal(response.identity.hostId, fx.jwt.pod.podName);
      assert.equal(response.identity.namespace, fx.jwt.pod.namespace);
      return;
    }
    const code = assertProblem(answer, context);
    assert.deepEqual({ status: answer.statusCode, code }, expected, `for ${context}`);
  }

  it('any JSON value, or an object with the request\'s keys holding any JSON, is refused with the right 4xx problem', async () => {
    const shaped = fc.record(Object.fromEntries(FIELDS.map((k) => [k, fc.jsonValue({ maxDepth: 2 })])), { requiredKeys: [] });
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.jsonValue(), fc.json().map((t) => JSON.parse(t) as unknown), shaped), async (body) => check(body)),
      fuzzParameters({ budgetMs: 30_000, caseMs: 5_000 }),
    );
  });

  it('a valid body with fields removed or replaced (any JSON, or values whose outcome is known) gets 200 only when still valid, else the right 4xx', async () => {
    const change = fc.constantFrom(...FIELDS).chain((field) =>
      fc.record({ field: fc.constant<string>(field), value: fc.option(fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom(...curated[field]), fc.constantFrom(...curated[field])), { nil: undefined, freq: 6 }) }),
    );
    const extra = fc.record({ field: fc.string({ maxLength: 12 }).filter((k) => !(FIELDS as readonly string[]).includes(k)), value: fc.jsonValue({ maxDepth: 1 }) });
    const changes = fc.uniqueArray(fc.oneof({ arbitrary: change, weight: 6 }, { arbitrary: extra, weight: 1 }), { selector: (c) => c.field, maxLength: 3 });
    await fc.assert(
      fc.asyncProperty(changes, async (list) => {
        const body = fx.validBody();
        for (const { field, value } of list) {
          if (value === undefined) delete body[field];
          else Object.defineProperty(body, field, { value, enumerable: true, writable: true, configurable: true });
        }
        await check(body);
      }),
      fuzzParameters({ budgetMs: 40_000, caseMs: 5_000 }),
    );
    assert.ok((seen.get('200') ?? 0) >= 100, `valid bodies were among the cases: ${JSON.stringify([...seen])}`);
    assert.ok(seen.size >= 8, `most refusals were reached: ${JSON.stringify([...seen])}`);
  });

  it('any name the token rules accept, up to the 253-character limit, is 401 token_not_found when no such token exists (never a storage failure)', async () => {
    await fc.assert(
      fc.asyncProperty(validTokenName, async (tokenName) => {
        fc.pre(tokenName !== JOIN_TOKEN && tokenName !== EXPIRED_TOKEN);
        await check({ ...fx.validBody(), tokenName });
      }),
      fuzzParameters({ budgetMs: 30_000, caseMs: 5_000 }),
    );
  });

  it('a body that is not JSON, or not sent as application/json, gets 400 or 415 (413 past the size limit), never 5xx', async () => {
    const contentType = fc.oneof(
      fc.constantFrom('application/json', 'application/json; charset=utf-8', 'application/jsonx', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/problem+json', 'application/yaml', 'APPLICATION/JSON', ''),
      fc.stringMatching(/^[!-~]{0,30}$/),
    );
    const bytes = fc.oneof(
      { arbitrary: fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)), weight: 4 },
      { arbitrary: fc.string({ unit: 'binary', maxLength: 200 }).map((s) => Buffer.from(s)), weight: 4 },
      { arbitrary: fc.constantFrom('{', '{"tokenName":', '[1,2', 'nul', '{"a":1}}', '\ufeff{}', 'true').map((s) => Buffer.from(s)), weight: 2 },
      { arbitrary: fc.integer({ min: MAX_JOIN_BODY_BYTES + 1, max: MAX_JOIN_BODY_BYTES + 4096 }).map((n) => Buffer.alloc(n, 0x20)), weight: 1 },
    );
    await fc.assert(
      fc.asyncProperty(contentType, bytes, async (type, body) => {
        let json = true;
        try {
          JSON.parse(body.toString('utf8'));
        } catch {
          json = false;
        }
        fc.pre(!json);
        const answer = await fx.join(body, type);
        const context = `${body.length} bytes ${JSON.stringify(body.subarray(0, 80).toString('latin1'))} as ${JSON.stringify(type)}`;
        assertProblem(answer, context);
        const allowed = [400, 415, ...(body.length > MAX_JOIN_BODY_BYTES ? [413] : [])];
        assert.ok(allowed.includes(answer.statusCode), `got ${answer.statusCode} for ${context}`);
        if (answer.statusCode === 415) assert.ok(!type.startsWith('application/json'), `415 for a JSON content type: ${context}`);
      }),
      fuzzParameters({ budgetMs: 30_000, caseMs: 5_000 }),
    );
  });
});
