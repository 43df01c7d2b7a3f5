import assert from 'node:assert/strict';
import fc from 'fast-check';
import got, { type Got, type Method } from 'got';
import { TokenSpecError } from '../../../src/auth/errors.ts';
import { checkNewTokenRoles, parseProvisionToken, type ProvisionToken } from '../../../src/auth/tokens.ts';
import { ADMIN_INVENTORY_PATH, ADMIN_TOKENS_PATH, InventorySchema, TokenListSchema, TokenSummarySchema } from '../../../src/protocol/index.ts';
import { startInProcessAuth, type InProcessAuth } from '../../support/auth-service.ts';
import { assertProblem, fuzzParameters, type Answer } from '../../support/fuzz.ts';
import { leafPair } from '../../support/pki.ts';
import { anyText, anyYamlData, editedTokenText, mutatedTokenText, singleFieldChange, validTokenName, validTokenText } from '../../support/token-docs.ts';

const CLUSTER = 'fuzz-admin';
const KEPT = 'kept-token';
const keptYaml = (name: string) => `kind: token\nversion: v2\nmetadata:\n  name: ${JSON.stringify(name)}\nspec:\n  roles: [App]\n  join_method: kubernetes\n  kubernetes:\n    allow: [{ service_account: "ns:sa" }]\n`;
const METHODS: Method[] = ['GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'HEAD', 'OPTIONS'];
const contentType = fc.oneof(fc.constantFrom('application/yaml', 'application/json', 'text/plain', 'application/octet-stream', 'multipart/form-data; boundary=x', ''), fc.stringMatching(/^[!-~]{0,30}$/));

/** What a caller who wrote `body` expects from POST /v1/admin/tokens: the token, or the TokenSpecError. */
/** What `token create` makes of `body`: the token, or the one-line error (roles outside the known ones included). */
function readLocally(body: string): ProvisionToken | TokenSpecError {
  try {
    const token = parseProvisionToken(body, Date.now());
    checkNewTokenRoles(token);
    return token;
  } catch (err) {
    assert.ok(err instanceof TokenSpecError, String(err));
    return err;
  }
}

describe('fuzz: admin API bodies, methods and paths (in-process auth over HTTPS, admin client identity)', function () {
  this.timeout(120_000);
  let auth: InProcessAuth;
  let asAgent: Got;

  before(async () => {
    auth = await startInProcessAuth(CLUSTER);
    await auth.service.storage.putToken(parseProvisionToken(keptYaml(KEPT), Date.now()), { overwrite: false });
    const agent = await leafPair(auth.service.ca, { hostId: 'app-1' });
    asAgent = got.extend({ throwHttpErrors: false, retry: { limit: 0 }, https: { certificateAuthority: auth.caPem, key: agent.keyPem, certificate: agent.certPem } });
  });
  after(async () => {
    await auth?.close();
  });

  const admin = (method: Method, path: string, body?: string, type?: string): Promise<Answer> =>
    auth.send(auth.admin, method, path, body, type === undefined ? {} : { 'content-type': type });

  const surrogateToken = (labelKey: string) =>
    `kind: token\nversion: v2\nmetadata:\n  name: fuzz-surrogate\n  labels:\n    ${labelKey}: infra\nspec:\n  roles: [App]\n  join_method: kubernetes\n  kubernetes:\n    allow:\n      - service_account: teleport-agent:app\n`;

  it('POST /v1/admin/tokens with any body and content type: 201 for what parseProvisionToken reads and checkNewTokenRoles accepts (409 if it exists), else 400 with its message; never 5xx', async () => {
    const body = fc.oneof(anyText, anyYamlData, mutatedTokenText, editedTokenText, singleFieldChange.map((c) => c.text), validTokenText);
    const seen = { created: 0, conflict: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(body, contentType, fc.boolean(), fc.boolean(), async (drawn, type, overwrite, remove) => {
        // The text as UTF-8 carries it: a lone surrogate the generator drew arrives as U+FFFD, so the
        // oracle reads what the server receives, not what no client can send.
        const text = Buffer.from(drawn, 'utf8').toString('utf8');
        const local = readLocally(text);
        const existed = local instanceof TokenSpecError ? false : (await auth.service.storage.getToken(local.metadata.name)) !== undefined;
        const answer = await admin('POST', `${ADMIN_TOKENS_PATH}${overwrite ? '?overwrite=true' : ''}`, text, type);
        const context = `POST ${JSON.stringify(text.slice(0, 300))} as ${JSON.stringify(type)}${overwrite ? ' with overwrite' : ''}`;
        if (local instanceof TokenSpecError) {
          assert.equal(assertProblem(answer, context), 'bad_request');
          assert.equal(answer.statusCode, 400);
          assert.equal((JSON.parse(answer.body) as { detail: string }).detail, local.message, context);
          seen.refused++;
          return;
        }
        if (existed && !overwrite) {
          assert.equal(assertProblem(answer, context), 'conflict');
          seen.conflict++;
          return;
        }
        assert.equal(answer.statusCode, 201, `${answer.statusCode} ${answer.body} for ${context}`);
        const summary = TokenSummarySchema.parse(JSON.parse(answer.body));
        assert.deepEqual([summary.name, summary.type, summary.roles, summary.allow], [local.metadata.name, local.spec.kubernetes.type, local.spec.roles, local.spec.kubernetes.allow.map((a) => a.service_account)]);
        // What `token get` prints reads back as the token that was sent.
        const stored = await admin('GET', `${ADMIN_TOKENS_PATH}/${encodeURIComponent(local.metadata.name)}`);
        assert.equal(stored.statusCode, 200, `${stored.statusCode} ${stored.body} reading back ${context}`);
        const back = parseProvisionToken(stored.body, Date.now());
        assert.deepEqual({ ...back, metadata: { ...back.metadata, expires: undefined } }, { ...local, metadata: { ...local.metadata, expires: undefined } });
        seen.created++;
        if (remove && local.metadata.name !== KEPT) assert.equal((await admin('DELETE', `${ADMIN_TOKENS_PATH}/${encodeURIComponent(local.metadata.name)}`)).statusCode, 204);
      }),
      // Found by CI: a label key holding a lone surrogate, raw (UTF-8 carries it as U+FFFD) or as a YAML escape.
      fuzzParameters({ budgetMs: 40_000, caseMs: 5_000, examples: ['a\udc00', '"a\\udc00"'].map((key) => [surrogateToken(key), '', true, false] as [string, string, boolean, boolean]) }),
    );
    assert.ok(seen.created >= 50 && seen.refused >= 50, `both valid and invalid tokens were sent: ${JSON.stringify(seen)}`);
    const list = await admin('GET', ADMIN_TOKENS_PATH);
    assert.equal(list.statusCode, 200, `token ls after the run: ${list.body}`);
    TokenListSchema.parse(JSON.parse(list.body));
  });

  it('any method and path under /v1/admin/: GET tokens/inventory/NAME and DELETE NAME answer, everything else is a 4xx problem; never 5xx', async () => {
    // Names near the length limit have a property of their own (below).
    const name = fc.oneof(fc.stringMatching(/^[A-Za-z0-9]([A-Za-z0-9._-]{0,30}[A-Za-z0-9])?$/), fc.string({ maxLength: 20 }), fc.constantFrom(KEPT, '', '..', '../tokens', '.', 'a/b', '%', 'kept-token/'));
    const suffix = fc.oneof(
      name.map(encodeURIComponent),
      name,
      fc.string({ unit: fc.constantFrom('a', '%', '2', 'F', 'E', '0', 'f', '.', '/', '~', '-', '_', 'Z', '+', ';', '='), maxLength: 12 }),
    );
    const path = fc.oneof(
      fc.constantFrom(ADMIN_TOKENS_PATH, ADMIN_INVENTORY_PATH, '/v1/admin/', '/v1/admin/x', `${ADMIN_INVENTORY_PATH}/x`, `${ADMIN_TOKENS_PATH}?overwrite=true`, `${ADMIN_TOKENS_PATH}/`, '/v1/admin//tokens', `${ADMIN_TOKENS_PATH}//${KEPT}`),
      suffix.map((s) => `${ADMIN_TOKENS_PATH}/${s}`),
      fc.tuple(suffix, fc.string({ maxLength: 10 })).map(([s, q]) => `${ADMIN_TOKENS_PATH}/${s}?${encodeURIComponent(q)}`),
      suffix.map((s) => `/v1/admin/${s}`),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...METHODS), path, fc.option(fc.string({ maxLength: 50 }), { nil: undefined }), async (method, p, body) => {
        const sent = new URL(p, auth.base);
        const target = `${sent.pathname}${sent.search}`;
        const tokenName = sent.pathname.startsWith(`${ADMIN_TOKENS_PATH}/`) ? sent.pathname.slice(ADMIN_TOKENS_PATH.length + 1) : undefined;
        let decoded: string | undefined;
        try {
          decoded = tokenName === undefined ? undefined : decodeURIComponent(tokenName);
        } catch {
          decoded = undefined;
        }
        // The other properties of this file leave tokens behind (any name may exist, not only KEPT).
        const exists = decoded !== undefined && (await auth.service.storage.getToken(decoded)) !== undefined;
        const answer = await admin(method, target, method === 'GET' || method === 'HEAD' || method === 'OPTIONS' ? undefined : body);
        const context = `${method} ${target}`;
        assert.ok(answer.statusCode < 500, `${answer.statusCode} ${answer.body} for ${context}`);
        if (method === 'GET' && sent.pathname === ADMIN_TOKENS_PATH) {
          assert.equal(answer.statusCode, 200, context);
          TokenListSchema.parse(JSON.parse(answer.body));
        } else if (method === 'GET' && sent.pathname === ADMIN_INVENTORY_PATH) {
          assert.equal(answer.statusCode, 200, context);
          InventorySchema.parse(JSON.parse(answer.body));
        } else if (method === 'GET' && exists) {
          assert.equal(answer.statusCode, 200, context);
          assert.equal(parseProvisionToken(answer.body, Date.now()).metadata.name, decoded);
        } else if (method === 'DELETE' && exists) {
          assert.equal(answer.statusCode, 204, context);
          if (decoded === KEPT) await auth.service.storage.putToken(parseProvisionToken(keptYaml(KEPT), Date.now()), { overwrite: false });
        } else if (method === 'HEAD') {
          assert.ok(answer.statusCode >= 400, `${answer.statusCode} for ${context}`);
        } else {
          const code = assertProblem(answer, context);
          if (method === 'GET' || method === 'DELETE') {
            assert.ok(['not_found', 'bad_request'].includes(code), `${answer.body} for ${context}`);
          }
        }
      }),
      fuzzParameters({ budgetMs: 40_000, caseMs: 5_000 }),
    );
  });

  it('a token with any name the token rules accept (1-200 characters) can be created, read back and deleted', async () => {
    await fc.assert(
      fc.asyncProperty(validTokenName, async (name) => {
        fc.pre(name !== KEPT);
        const created = await admin('POST', `${ADMIN_TOKENS_PATH}?overwrite=true`, keptYaml(name), 'application/yaml');
        assert.equal(created.statusCode, 201, `create "${name}" (${name.length} characters): ${created.statusCode} ${created.body}`);
        const read = await admin('GET', `${ADMIN_TOKENS_PATH}/${encodeURIComponent(name)}`);
        assert.equal(read.statusCode, 200, `read "${name}": ${read.statusCode} ${read.body}`);
        const removed = await admin('DELETE', `${ADMIN_TOKENS_PATH}/${encodeURIComponent(name)}`);
        assert.equal(removed.statusCode, 204, `delete "${name}": ${removed.statusCode} ${removed.body}`);
      }),
      fuzzParameters({ budgetMs: 40_000, caseMs: 5_000 }),
    );
  });

  it('without the admin identity any admin request is 401 unauthorized, and with an agent\'s certificate 403 forbidden', async () => {
    const path = fc.oneof(fc.constantFrom(ADMIN_TOKENS_PATH, ADMIN_INVENTORY_PATH, `${ADMIN_TOKENS_PATH}/${KEPT}`, '/v1/admin/'), fc.string({ maxLength: 12 }).map((s) => `/v1/admin/${encodeURIComponent(s)}`));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...METHODS.filter((m) => m !== 'HEAD')), path, fc.boolean(), fc.option(validTokenText, { nil: undefined }), async (method, p, agent, body) => {
        const answer = await auth.send(agent ? asAgent : auth.client, method, p, method === 'GET' || method === 'OPTIONS' ? undefined : body);
        const code = assertProblem(answer, `${method} ${p} ${agent ? 'as an agent' : 'with no certificate'}`);
        assert.deepEqual([answer.statusCode, code], agent ? [403, 'forbidden'] : [401, 'unauthorized']);
      }),
      fuzzParameters({ numRuns: 300, budgetMs: 30_000, caseMs: 5_000 }),
    );
    assert.ok((await auth.service.storage.getToken(KEPT)) !== undefined, 'the kept token is still there');
  });
});
