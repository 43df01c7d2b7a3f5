import assert from 'node:assert/strict';
import sinon from 'sinon';
import { loadOrCreateSharedCa, InjectorCaError, type InjectorCa } from '../../../src/injector/index.ts';
import { KubeApiError, type KubeClient } from '../../../src/kube/index.ts';

const PATH = '/api/v1/namespaces/kube-join/secrets';
const OURS: InjectorCa = { certPem: 'CERT ours\n', keyPem: 'KEY ours\n' };
const THEIRS: InjectorCa = { certPem: 'CERT theirs\n', keyPem: 'KEY theirs\n' };
const secretOf = (ca: InjectorCa) => ({ data: { 'ca.crt': Buffer.from(ca.certPem).toString('base64'), 'ca.key': Buffer.from(ca.keyPem).toString('base64') } });
const notFound = () => new KubeApiError('GET', `${PATH}/injector-ca`, 404, 'NotFound', 'not found');

function clientWith(request: sinon.SinonStub): KubeClient {
  return { request } as unknown as KubeClient;
}

describe('loadOrCreateSharedCa', () => {
  it('uses the CA already in the Secret, and makes none', async () => {
    const create = sinon.stub().resolves(OURS);
    const request = sinon.stub().resolves(secretOf(THEIRS));
    assert.deepEqual(await loadOrCreateSharedCa(clientWith(request), 'kube-join', 'injector-ca', create), THEIRS);
    assert.equal(create.callCount, 0);
  });

  it('the first replica stores a new CA in the Secret', async () => {
    const request = sinon.stub();
    request.onFirstCall().rejects(notFound());
    request.onSecondCall().resolves({});
    assert.deepEqual(await loadOrCreateSharedCa(clientWith(request), 'kube-join', 'injector-ca', async () => OURS), OURS);
    assert.deepEqual(request.secondCall.args, ['POST', PATH, {
      body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'injector-ca', labels: { 'app.kubernetes.io/component': 'injector' } }, type: 'Opaque', data: secretOf(OURS).data },
    }]);
  });

  it('a replica that loses the race to create it (409) uses the winner\'s', async () => {
    const request = sinon.stub();
    request.onFirstCall().rejects(notFound());
    request.onSecondCall().rejects(new KubeApiError('POST', PATH, 409, 'AlreadyExists', 'exists'));
    request.onThirdCall().resolves(secretOf(THEIRS));
    assert.deepEqual(await loadOrCreateSharedCa(clientWith(request), 'kube-join', 'injector-ca', async () => OURS), THEIRS);
  });

  it('refuses a Secret of that name that is not a CA, and names it; RBAC errors name it too', async () => {
    await assert.rejects(loadOrCreateSharedCa(clientWith(sinon.stub().resolves({ data: { token: 'eA==' } })), 'kube-join', 'injector-ca', async () => OURS), {
      code: 'ERR_INJECTOR_CA',
      message: 'Secret kube-join/injector-ca has no ca.crt and ca.key: it is not the injector\'s CA; delete it or name another with --tls-secret',
    });
    const forbidden = new KubeApiError('GET', `${PATH}/injector-ca`, 403, 'Forbidden', 'cannot get');
    await assert.rejects(loadOrCreateSharedCa(clientWith(sinon.stub().rejects(forbidden)), 'kube-join', 'injector-ca', async () => OURS), (err: InjectorCaError) => {
      assert.equal(err.message, `cannot read or create the injector CA in Secret kube-join/injector-ca: Kubernetes API GET ${PATH}/injector-ca answered 403 Forbidden: cannot get`);
      assert.ok(!err.message.includes('KEY'));
      return true;
    });
  });
});
