import assert from 'node:assert/strict';
import sinon from 'sinon';
import { READINESS_CACHE_MS, createReadiness, storageReadiness, tokenReviewReadiness } from '../../../src/auth/readiness.ts';
import { StorageError } from '../../../src/auth/errors.ts';
import type { AuthStorage } from '../../../src/auth/storage/types.ts';
import { KubeApiError, KubeUnreachableError, type KubeClient } from '../../../src/kube/index.ts';

const SERVER = 'https://kube.test:6443';
const REVIEW_PATH = '/apis/authentication.k8s.io/v1/tokenreviews';

/** A KubeClient whose TokenReviews answer with `answer`; nothing else is called. */
function fakeKube(answer: () => Promise<unknown>): KubeClient & { tokenReview: sinon.SinonSpy } {
  return {
    server: SERVER,
    source: 'test',
    request: () => Promise.reject(new Error('not used')),
    tokenReview: sinon.spy(answer) as unknown as KubeClient['tokenReview'] & sinon.SinonSpy,
    close: () => undefined,
  };
}

describe('auth readiness', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: 1_000_000, toFake: ['Date'] });
  });
  afterEach(() => clock.restore());

  describe('createReadiness', () => {
    it('reuses an answer for READINESS_CACHE_MS (10 s), then checks again', async () => {
      const check = sinon.stub().resolves();
      const readiness = createReadiness([check], () => Date.now());
      assert.equal(READINESS_CACHE_MS, 10_000);
      assert.deepEqual(await readiness.check(), { ready: true });
      clock.tick(READINESS_CACHE_MS - 1);
      assert.deepEqual(await readiness.check(), { ready: true });
      assert.equal(check.callCount, 1);
      clock.tick(1);
      check.rejects(new Error('state directory /x is read-only (EROFS)'));
      assert.deepEqual(await readiness.check(), { ready: false, reason: 'state directory /x is read-only (EROFS)' });
      assert.equal(check.callCount, 2);
    });

    it('caches a failure as long as a success, so a probe storm on a sick backend costs one check', async () => {
      const check = sinon.stub().rejects(new Error('down'));
      const readiness = createReadiness([check], () => Date.now());
      for (let i = 0; i < 5; i++) assert.deepEqual(await readiness.check(), { ready: false, reason: 'down' });
      assert.equal(check.callCount, 1);
      clock.tick(READINESS_CACHE_MS);
      check.resolves();
      assert.deepEqual(await readiness.check(), { ready: true });
      assert.equal(check.callCount, 2);
    });

    it('shares one run among concurrent callers', async () => {
      let release!: () => void;
      const check = sinon.stub().returns(new Promise<void>((resolve) => (release = resolve)));
      const readiness = createReadiness([check], () => Date.now());
      const answers = [readiness.check(), readiness.check(), readiness.check()];
      release();
      assert.deepEqual(await Promise.all(answers), [{ ready: true }, { ready: true }, { ready: true }]);
      assert.equal(check.callCount, 1);
    });

    it('runs every check and names every problem, in the order of the checks', async () => {
      const readiness = createReadiness([() => Promise.reject(new Error('storage: full')), () => Promise.resolve(), () => { throw new Error('kube: forbidden'); }], () => Date.now());
      assert.deepEqual(await readiness.check(), { ready: false, reason: 'storage: full; kube: forbidden' });
    });
  });

  describe('storageReadiness', () => {
    const storage = (over: Partial<AuthStorage>) => ({ ping: () => Promise.resolve(), probeWrite: () => Promise.resolve(), ...over }) as AuthStorage;

    it('is ready when storage answers and takes the write probe', async () => {
      const probeWrite = sinon.stub().resolves();
      await storageReadiness(storage({ probeWrite }))();
      assert.equal(probeWrite.callCount, 1);
    });

    it('names the storage problem when the write probe fails', async () => {
      const check = storageReadiness(storage({ probeWrite: () => Promise.reject(new StorageError('state directory /var/lib/kube-join is read-only (EROFS)')) }));
      await assert.rejects(check(), { message: 'storage: state directory /var/lib/kube-join is read-only (EROFS)' });
    });
  });

  describe('tokenReviewReadiness', () => {
    it('reviews a dummy token that is not a JWT, for the cluster audience, and is ready when the review goes through', async () => {
      const kube = fakeKube(() => Promise.resolve({ authenticated: false, error: 'invalid bearer token' }));
      await tokenReviewReadiness(kube, 'my-cluster')();
      assert.equal(kube.tokenReview.callCount, 1);
      const [token, audiences] = kube.tokenReview.firstCall.args as [string, string[]];
      assert.equal(token.split('.').length, 1, 'not a JWT');
      assert.deepEqual(audiences, ['my-cluster']);
    });

    it('is not ready when TokenReviews are forbidden (403), and names the ClusterRole system:auth-delegator', async () => {
      const apiMessage = 'tokenreviews.authentication.k8s.io is forbidden: User "system:serviceaccount:kube-join:auth" cannot create resource "tokenreviews" in API group "authentication.k8s.io" at the cluster scope';
      const kube = fakeKube(() => Promise.reject(new KubeApiError('POST', REVIEW_PATH, 403, 'Forbidden', apiMessage)));
      const readiness = createReadiness([tokenReviewReadiness(kube, 'my-cluster')], () => Date.now());
      assert.deepEqual(await readiness.check(), {
        ready: false,
        reason: `the auth service may not create TokenReviews on ${SERVER}: bind the ClusterRole system:auth-delegator to the auth service's ServiceAccount (apiserver: ${apiMessage})`,
      });
    });

    it('is not ready when the Kubernetes API is unreachable', async () => {
      const message = `Kubernetes API ${SERVER} (test): POST ${REVIEW_PATH} failed (ECONNREFUSED)`;
      const kube = fakeKube(() => Promise.reject(new KubeUnreachableError(message, 'ECONNREFUSED')));
      await assert.rejects(tokenReviewReadiness(kube, 'my-cluster')(), { message });
    });

    it('is not ready when the API refuses the auth service\'s own credentials', async () => {
      const kube = fakeKube(() => Promise.reject(new KubeApiError('POST', REVIEW_PATH, 401, 'Unauthorized', 'Unauthorized')));
      await assert.rejects(tokenReviewReadiness(kube, 'my-cluster')(), { message: `the Kubernetes API ${SERVER} answered 401 Unauthorized to a TokenReview: Unauthorized` });
    });
  });
});
