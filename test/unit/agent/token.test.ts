import assert from 'node:assert/strict';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readServiceAccountToken } from '../../../src/agent/token.ts';
import { TokenReadError } from '../../../src/agent/errors.ts';

// A syntactically valid JWT (header {"alg":"none"}, payload {"sub":"x"}); the agent only decodes.
const JWT = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.';

describe('readServiceAccountToken', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kj-token-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function expectReason(paths: string[], reason: string, message: string) {
    await assert.rejects(readServiceAccountToken(paths), (err: unknown) => {
      assert.ok(err instanceof TokenReadError);
      assert.equal(err.code, 'ERR_TOKEN_READ');
      assert.equal(err.reason, reason);
      assert.equal(err.message, message);
      return true;
    });
  }

  it('reads and trims the first path that exists', async () => {
    await writeFile(join(dir, 'b'), `${JWT}\n`);
    assert.deepEqual(await readServiceAccountToken([join(dir, 'a'), join(dir, 'b')]), { token: JWT, path: join(dir, 'b') });
  });

  it('re-reads the file on every call (the kubelet rotates it)', async () => {
    const path = join(dir, 't');
    await writeFile(path, JWT);
    assert.equal((await readServiceAccountToken([path])).token, JWT);
    const rotated = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ5In0.';
    await writeFile(path, rotated);
    assert.equal((await readServiceAccountToken([path])).token, rotated);
  });

  it('says the file is missing, naming the first candidate and the likely cause', async () => {
    await expectReason([join(dir, 'a'), join(dir, 'b')], 'missing', `ServiceAccount token file ${join(dir, 'a')} does not exist (is the projected ServiceAccount token volume mounted?)`);
  });

  it('says the file is empty', async () => {
    await writeFile(join(dir, 't'), '  \n');
    await expectReason([join(dir, 't')], 'empty', `ServiceAccount token file ${join(dir, 't')} is empty`);
  });

  it('says the file is not a JWT, without printing what it holds', async () => {
    await writeFile(join(dir, 't'), 'super-secret-static-password');
    await assert.rejects(readServiceAccountToken([join(dir, 't')]), (err: unknown) => {
      assert.ok(err instanceof TokenReadError);
      assert.equal(err.reason, 'not_a_jwt');
      assert.equal(err.message, `ServiceAccount token file ${join(dir, 't')} is not a JWT`);
      assert.ok(!JSON.stringify({ m: err.message, s: err.stack }).includes('super-secret'));
      return true;
    });
  });

  it('refuses a file larger than any token', async () => {
    await writeFile(join(dir, 't'), 'a'.repeat(70 * 1024));
    await expectReason([join(dir, 't')], 'too_large', `ServiceAccount token file ${join(dir, 't')} is larger than 64 KiB, so it is not a ServiceAccount token`);
  });
});
