import assert from 'node:assert/strict';
import { AdminRequestError, readAnswer } from '../../../src/cli/admin-client.ts';
import { TokenListSchema } from '../../../src/protocol/index.ts';

describe('admin client: answers that are not the admin protocol', () => {
  const from = 'auth service https://127.0.0.1:3025';
  const fails = (body: string, message: string) =>
    assert.throws(() => readAnswer(body, TokenListSchema, from, 200), (err: unknown) => err instanceof AdminRequestError && err.code === 'ERR_ADMIN_REQUEST' && err.message === message);

  it('reads an answer that fits', () => {
    assert.deepEqual(readAnswer('{"tokens":[]}', TokenListSchema, from, 200), { tokens: [] });
  });
  it('names the first field that does not fit, in words', () => {
    fails('{"tokens":[{"name":"t","type":"in_cluster","roles":"App","allow":[],"expires":"2026-01-01T00:00:00Z","expired":false}]}', `${from} answered something that is not the admin protocol (tokens[0].roles: must be a list, not a string)`);
    fails('{}', `${from} answered something that is not the admin protocol (tokens: required)`);
  });
  it('says when the body is not JSON at all', () => {
    fails('<html>', `${from} answered 200 with a body that is not JSON`);
  });
});
