import assert from 'node:assert/strict';
import { connect, type PeerCertificate } from 'node:tls';
import got, { RequestError } from 'got';
import { kubeJoin, kubeJoinRun } from '../support/kube-join.ts';
import type { KubeJoinProcess } from '../../src/cli/process.ts';

/** The real `kube-join injector` on loopback, receiving AdmissionReviews over TLS as the apiserver sends them. */
describe('kube-join injector (process on loopback)', function () {
  this.timeout(30_000);
  let injector: KubeJoinProcess | undefined;
  let base = '';

  before(async () => {
    injector = kubeJoin(['injector', '--listen', '127.0.0.1:0', '--san', 'injector.kube-join.svc,127.0.0.1', '--auth-addr', 'kube-join-auth.kube-join.svc:3025', '--cluster-name', 'prod', '--token-name', 'kube-token', '--image', 'registry.example/kube-join:9.9.9', '--webhook-config-name', 'off']);
    const ready = await injector.waitFor('injector listening');
    base = `https://127.0.0.1:${String(ready.port)}`;
  });
  after(async () => {
    await injector?.stop();
  });

  const post = (body: unknown, contentType = 'application/json') =>
    got.post(`${base}/mutate`, { body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': contentType }, https: { rejectUnauthorized: false }, throwHttpErrors: false, retry: { limit: 0 } });

  const review = (annotations: Record<string, string>, uid = 'uid-1') => ({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid, kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, operation: 'CREATE', namespace: 'apps', object: { apiVersion: 'v1', kind: 'Pod', metadata: { generateName: 'web-', annotations }, spec: { containers: [{ name: 'web', image: 'nginx' }] } } },
  });

  it('serves a certificate for its --san names, from a CA no system trusts (the caBundle is the only way in)', async () => {
    const peer = await new Promise<PeerCertificate>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: Number(new URL(base).port), rejectUnauthorized: false }, () => {
        resolve(socket.getPeerCertificate());
        socket.end();
      });
      socket.on('error', reject);
    });
    assert.equal(peer.subjectaltname, 'DNS:injector.kube-join.svc, IP Address:127.0.0.1');
    assert.equal(peer.issuer.CN, 'kube-join injector CA');
    await assert.rejects(got(`${base}/healthz`, { retry: { limit: 0 } }), (err: RequestError) => err.code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });

  it('injects an annotated pod: a JSONPatch with the agent sidecar built from its flags', async () => {
    const res = await post(review({ 'kube-join.io/inject': 'true', 'kube-join.io/roles': 'App' }));
    assert.equal(res.statusCode, 200);
    const answer = JSON.parse(res.body) as { apiVersion: string; kind: string; response: { uid: string; allowed: boolean; patchType: string; patch: string } };
    assert.equal(answer.apiVersion, 'admission.k8s.io/v1');
    assert.equal(answer.kind, 'AdmissionReview');
    assert.equal(answer.response.uid, 'uid-1');
    assert.equal(answer.response.allowed, true);
    assert.equal(answer.response.patchType, 'JSONPatch');
    const patch = JSON.parse(Buffer.from(answer.response.patch, 'base64').toString('utf8')) as { path: string; value: unknown }[];
    const sidecar = (patch[0]?.value as { image: string; restartPolicy: string; args: string[] }[])[0];
    assert.equal(sidecar?.image, 'registry.example/kube-join:9.9.9');
    assert.equal(sidecar?.restartPolicy, 'Always');
    assert.deepEqual(sidecar?.args, ['agent', '--auth-addr', 'kube-join-auth.kube-join.svc:3025', '--token-name', 'kube-token', '--cluster-name', 'prod', '--ca-file', '/var/run/kube-join/ca/ca.crt', '--out-dir', '/var/run/kube-join', '--health-addr', '0.0.0.0:8087', '--roles', 'App']);
    assert.equal(patch.at(-1)?.path, '/metadata/annotations/kube-join.io~1status');
    await injector?.waitFor('pod injected', (l) => l.uid === 'uid-1' && l.namespace === 'apps' && l.pod === 'web-');
  });

  it('denies bad annotations with the annotation named, and logs it', async () => {
    const res = await post(review({ 'kube-join.io/inject': 'true', 'kube-join.io/apps': 'grafana' }, 'uid-2'));
    assert.equal(res.statusCode, 200);
    assert.deepEqual(JSON.parse(res.body).response, { uid: 'uid-2', allowed: false, status: { code: 400, message: 'kube-join injector: kube-join.io/apps: entries must be name=uri with a DNS-1123 name, separated by commas (got "grafana")' } });
    const line = await injector?.waitFor('pod denied', (l) => l.uid === 'uid-2');
    assert.equal(line?.code, 'ERR_INJECTION_DENIED');
  });

  it('refuses what is not an AdmissionReview, with the reason', async () => {
    const text = await post('{}', 'text/plain');
    assert.deepEqual([text.statusCode, JSON.parse(text.body)], [415, { error: 'an AdmissionReview must be application/json' }]);
    const notJson = await post('{', 'application/json');
    assert.deepEqual([notJson.statusCode, JSON.parse(notJson.body)], [400, { error: 'request body is not valid JSON' }]);
    const v1beta1 = await post({ ...review({}), apiVersion: 'admission.k8s.io/v1beta1' });
    assert.equal(v1beta1.statusCode, 400);
    assert.match(JSON.parse(v1beta1.body).error, /^not an admission.k8s.io\/v1 AdmissionReview: apiVersion: /);
    const get = await got(`${base}/mutate`, { https: { rejectUnauthorized: false }, throwHttpErrors: false, retry: { limit: 0 } });
    assert.equal(get.statusCode, 405);
  });

  it('is ready at once when it leaves the caBundle alone (--webhook-config-name off)', async () => {
    const res = await got(`${base}/readyz`, { https: { rejectUnauthorized: false }, retry: { limit: 0 } });
    assert.deepEqual(JSON.parse(res.body), { ready: true });
  });

  it('refuses to start without --auth-addr, or without Kubernetes access for the caBundle', async () => {
    const noAuth = await kubeJoinRun(['injector', '--listen', '127.0.0.1:0', '--webhook-config-name', 'off'], { env: { PATH: process.env.PATH } });
    assert.equal(noAuth.code, 2);
    assert.equal(noAuth.stderr, 'kube-join: --auth-addr (or KUBE_JOIN_AUTH_ADDR) is required: the address every injected agent joins [ERR_CONFIG]\n');
    const noKube = await kubeJoinRun(['injector', '--listen', '127.0.0.1:0', '--auth-addr', 'a:1'], { env: { PATH: process.env.PATH } });
    assert.equal(noKube.code, 2);
    assert.equal(noKube.stderr, 'kube-join: keeping the webhook\'s caBundle (and --tls-secret) needs the Kubernetes API: run in a pod or give --kubeconfig (or --webhook-config-name off) [ERR_CONFIG]\n');
  });
});
