import assert from 'node:assert/strict';
import { admit, AdmissionReviewSchema } from '../../../src/injector/index.ts';
import { DEFAULTS as defaults } from './defaults.ts';

function review(object: unknown, overrides: Record<string, unknown> = {}) {
  return AdmissionReviewSchema.parse({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid: 'req-1', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'apps', object, ...overrides },
  });
}

describe('admit', () => {
  it('answers an injection with the review uid and the base64 JSONPatch', () => {
    const { review: answer, outcome } = admit(review({ metadata: { annotations: { 'kube-join.io/inject': 'true' } }, spec: { containers: [{ name: 'app' }] } }), defaults);
    assert.equal(outcome.result, 'injected');
    assert.equal(answer.apiVersion, 'admission.k8s.io/v1');
    assert.equal(answer.response.uid, 'req-1');
    assert.equal(answer.response.allowed, true);
    assert.equal(answer.response.patchType, 'JSONPatch');
    const patch = JSON.parse(Buffer.from(answer.response.patch as string, 'base64').toString('utf8')) as { path: string }[];
    assert.deepEqual(patch.map((op) => op.path), ['/spec/initContainers', '/spec/volumes', '/spec/containers/0/volumeMounts', '/metadata/annotations/kube-join.io~1status']);
  });

  it('allows a pod that did not ask, with no patch', () => {
    const { review: answer } = admit(review({ metadata: {}, spec: { containers: [{ name: 'app' }] } }), defaults);
    assert.deepEqual(answer.response, { uid: 'req-1', allowed: true });
  });

  it('denies bad annotations with status 400 and a message naming the annotation', () => {
    const { review: answer, outcome } = admit(review({ metadata: { annotations: { 'kube-join.io/inject': 'true', 'kube-join.io/roles': 'App,' } }, spec: { containers: [{ name: 'app' }] } }), defaults);
    assert.equal(outcome.result, 'denied');
    assert.deepEqual(answer.response, {
      uid: 'req-1',
      allowed: false,
      status: { code: 400, message: 'kube-join injector: kube-join.io/roles: must be role names separated by commas, e.g. "App" or "App,Db" (got "App,")' },
    });
  });

  it('allows anything but a Pod CREATE unchanged', () => {
    const pod = { metadata: { annotations: { 'kube-join.io/inject': 'true' } }, spec: { containers: [{ name: 'app' }] } };
    assert.deepEqual(admit(review(pod, { operation: 'UPDATE' }), defaults).review.response, { uid: 'req-1', allowed: true });
    assert.deepEqual(admit(review(pod, { kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }), defaults).review.response, { uid: 'req-1', allowed: true });
  });
});
