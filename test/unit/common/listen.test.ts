import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { listen, ListenError, nameListenError } from '../../../src/common/listen.ts';

describe('listen: bind errors as one line naming the address and the errno', () => {
  let taken: Server;
  let port: number;
  before(async () => {
    taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    port = (taken.address() as AddressInfo).port;
  });
  after(() => {
    taken.close();
  });

  it('a port in use: ListenError ERR_LISTEN with EADDRINUSE, not a raw errno error', async () => {
    await assert.rejects(listen(createServer(), '127.0.0.1', port), (err: unknown) => {
      assert.ok(err instanceof ListenError);
      assert.equal(err.code, 'ERR_LISTEN');
      assert.equal(err.errno, 'EADDRINUSE');
      assert.equal(err.message, `address 127.0.0.1:${port} is already in use (EADDRINUSE)`);
      return true;
    });
  });

  it('an address that is not this host\'s: EADDRNOTAVAIL in words', async () => {
    await assert.rejects(listen(createServer(), '192.0.2.1', 0), { code: 'ERR_LISTEN', message: 'address 192.0.2.1:0 is not an address of this host (EADDRNOTAVAIL)' });
  });

  it('nameListenError names the flag whose address failed, and leaves other errors alone', () => {
    const err = new ListenError({ host: '::1', port: 3026 }, 'EADDRINUSE');
    const named = nameListenError(err, { '--listen': { host: '::1', port: 3025 }, '--metrics-addr': { host: '::1', port: 3026 } });
    assert.ok(named instanceof ListenError);
    assert.equal(named.message, '--metrics-addr [::1]:3026 is already in use (EADDRINUSE)');
    assert.equal(named.option, '--metrics-addr');
    assert.equal(nameListenError(err, { '--listen': { host: '::1', port: 3025 }, '--metrics-addr': undefined }), err);
    const other = new Error('boom');
    assert.equal(nameListenError(other, { '--listen': { host: '::1', port: 3026 } }), other);
  });
});
