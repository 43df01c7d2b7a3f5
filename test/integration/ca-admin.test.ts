import assert from 'node:assert/strict';
import { ADMIN_CA_PATH, ADMIN_CA_ROTATE_PATH, CA_PATH, CaStatusSchema } from '../../src/protocol/index.ts';
import { spkiPin } from '../../src/common/crypto.ts';
import { parseCertificates } from '../../src/common/pem.ts';
import { startInProcessAuth, type InProcessAuth } from '../support/auth-service.ts';

describe('admin API: GET /v1/admin/ca and POST /v1/admin/ca/rotate (in-process auth over HTTPS)', () => {
  let auth: InProcessAuth;
  before(async () => {
    auth = await startInProcessAuth('ca-admin');
  });
  after(async () => {
    await auth?.close();
  });
  const json = (body: unknown) => [JSON.stringify(body), { 'content-type': 'application/json' }] as const;
  const problem = (body: string) => JSON.parse(body) as { code: string; detail: string };

  it('needs the admin identity: no client certificate is 401', async () => {
    const answer = await auth.send(auth.client, 'GET', ADMIN_CA_PATH);
    assert.equal(answer.statusCode, 401);
    assert.equal(problem(answer.body).code, 'unauthorized');
    const step = await auth.send(auth.client, 'POST', ADMIN_CA_ROTATE_PATH, ...json({ phase: 'init' }));
    assert.equal(step.statusCode, 401);
  });

  it('shows the CA whose pin GET /v1/ca serves: subject, pin, not-after, phase', async () => {
    const answer = await auth.send(auth.admin, 'GET', ADMIN_CA_PATH);
    assert.equal(answer.statusCode, 200, answer.body);
    const status = CaStatusSchema.parse(JSON.parse(answer.body));
    const served = parseCertificates((await auth.send(auth.client, 'GET', CA_PATH)).body).map(spkiPin);
    assert.deepEqual(status.bundlePins, served);
    assert.deepEqual([status.phase, status.signing, status.serving, status.clusterName], ['standby', served[0], served[0], 'ca-admin']);
    assert.equal(status.cas[0]?.subject, 'CN=kube-join CA ca-admin, O=kube-join');
    assert.deepEqual(status.agents, { live: 0, joinedSinceChange: 0 });
  });

  it('refuses a step that is not the next phase (409, naming the next one) and a malformed request (400)', async () => {
    const skip = await auth.send(auth.admin, 'POST', ADMIN_CA_ROTATE_PATH, ...json({ phase: 'update-servers' }));
    assert.equal(skip.statusCode, 409);
    assert.deepEqual(problem(skip.body), { ...problem(skip.body), code: 'conflict', detail: 'the CA rotation cannot go from phase "standby" to "update-servers": the next phase is "init"' });
    const bogus = await auth.send(auth.admin, 'POST', ADMIN_CA_ROTATE_PATH, ...json({ phase: 'later' }));
    assert.equal(bogus.statusCode, 400);
    assert.equal(problem(bogus.body).code, 'bad_request');
    assert.match(problem(bogus.body).detail, /^the rotate request must be \{"phase": \.\.\.\} or \{"manual": true, "graceSeconds": N\}: /);
    const notJson = await auth.send(auth.admin, 'POST', ADMIN_CA_ROTATE_PATH, 'init', { 'content-type': 'application/json' });
    assert.deepEqual([notJson.statusCode, problem(notJson.body).detail], [400, 'the rotate request body is not valid JSON']);
    // Nothing changed.
    assert.equal(CaStatusSchema.parse(JSON.parse((await auth.send(auth.admin, 'GET', ADMIN_CA_PATH)).body)).phase, 'standby');
  });
});
