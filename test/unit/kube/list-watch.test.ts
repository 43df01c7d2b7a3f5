import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import { startListWatch, type ListWatchHandle } from '../../../src/kube/list-watch.ts';
import { createKubeClient, type KubeConnection } from '../../../src/kube/index.ts';

type Obj = { metadata: { name: string; namespace: string; uid: string; resourceVersion: string } };
const obj = (name: string, rv: string): Obj => ({ metadata: { name, namespace: 'ns', uid: `uid-${name}`, resourceVersion: rv } });

// client-node refuses plain http unless TLS verification is off; the fake server is plain http.
const connectionTo = (port: number, bearerToken: () => Promise<string>): KubeConnection => ({ server: `http://127.0.0.1:${port}`, caPem: undefined, insecureSkipTlsVerify: true, tlsServerName: undefined, clientCertPem: undefined, clientKeyPem: undefined, bearerToken, source: 'test' });

/**
 * A fake API server on loopback for one collection: the first list has `a`, its watch says 410 Gone
 * (the resourceVersion was compacted away), the second list has `a` and `b`, and that watch stays open.
 */
describe('startListWatch', () => {
  let server: Server;
  let handle: ListWatchHandle | undefined;
  const requests: string[] = [];
  const open: ServerResponse[] = [];

  let lists = 0;
  beforeEach(async () => {
    lists = 0;
    requests.length = 0;
    await handle?.stop();
    handle = undefined;
  });

  before(async () => {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url ?? '/', 'http://x');
      requests.push(`${url.searchParams.get('watch') ? 'watch' : 'list'} rv=${url.searchParams.get('resourceVersion') ?? ''} fs=${url.searchParams.get('fieldSelector') ?? ''} auth=${req.headers.authorization ?? ''}`);
      res.setHeader('content-type', 'application/json');
      if (!url.searchParams.get('watch')) {
        lists++;
        res.end(JSON.stringify({ items: lists === 1 ? [obj('a', '1')] : [obj('a', '1'), obj('b', '7')], metadata: { resourceVersion: lists === 1 ? '5' : '9' } }));
        return;
      }
      res.writeHead(200);
      if (url.searchParams.get('resourceVersion') === '5') {
        res.end(JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version: 5 (8)' } }) + '\n');
        return;
      }
      open.push(res);
      res.write('');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
  });

  after(async () => {
    await handle?.stop();
    for (const res of open) res.destroy();
    server.closeAllConnections();
    server.close();
  });

  it('relists after the watch expired (410 Gone) and delivers what changed meanwhile, with the same credentials and field selector', async () => {
    const { port } = server.address() as { port: number };
    const connection = connectionTo(port, async () => 'sa-token');
    const client = createKubeClient(connection, { timeoutMs: 5000 });
    const seen: string[] = [];
    const errors: unknown[] = [];
    let gotB: () => void = () => {};
    const b = new Promise<void>((resolve) => (gotB = resolve));
    handle = await startListWatch<Obj>({
      connection,
      client,
      path: '/apis/certificates.k8s.io/v1/podcertificaterequests',
      fieldSelector: 'spec.signerName=kube-join.io/x',
      onObject: (o) => {
        seen.push(o.metadata.name);
        if (o.metadata.name === 'b') gotB();
      },
      onError: (err) => errors.push(err),
      restartDelayMs: () => 10,
    });
    await b;
    client.close();
    assert.deepEqual(seen, ['a', 'b']);
    assert.deepEqual(errors, []);
    // The relist happened (and delivered b) before the next watch was opened.
    assert.deepEqual(requests.slice(0, 3), [
      'list rv= fs=spec.signerName=kube-join.io/x auth=Bearer sa-token',
      'watch rv=5 fs=spec.signerName=kube-join.io/x auth=Bearer sa-token',
      'list rv= fs=spec.signerName=kube-join.io/x auth=Bearer sa-token',
    ]);
  });

  it('restarts, after the delay it is given, when the watch fails before it is sent (a token that cannot be read)', async () => {
    const { port } = server.address() as { port: number };
    let calls = 0;
    const connection = connectionTo(port, async () => {
      if (++calls === 2) throw new Error('token file unreadable');
      return 'sa-token';
    });
    const client = createKubeClient(connection, { timeoutMs: 5000 });
    const errors: string[] = [];
    const delays: number[] = [];
    let gotB: () => void = () => {};
    const b = new Promise<void>((resolve) => (gotB = resolve));
    handle = await startListWatch<Obj>({
      connection,
      client,
      path: '/apis/certificates.k8s.io/v1/podcertificaterequests',
      onObject: (o) => o.metadata.name === 'b' && gotB(),
      onError: (err, restarts) => errors.push(`${restarts}: ${(err as Error).message}`),
      restartDelayMs: (n) => (delays.push(n), 10),
    });
    await b;
    client.close();
    assert.deepEqual(errors, ['0: token file unreadable']);
    assert.deepEqual(delays, [0]);
  });
});
