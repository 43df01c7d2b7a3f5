import assert from 'node:assert/strict';
import { formatOutput } from '../../../src/cli/output.ts';

describe('--format of the listing commands (formatOutput)', () => {
  const rows = [{ name: 'kube-token', jwks: `{"keys":[${'{"kty":"EC"},'.repeat(10)}{}]}` }];
  it('text: the table, for people', async () => {
    assert.equal(await formatOutput('text', rows, () => 'TABLE\n'), 'TABLE\n');
  });
  it('json: the rows, indented, with a trailing newline', async () => {
    assert.equal(await formatOutput('json', rows, () => 'unused'), `${JSON.stringify(rows, null, 2)}\n`);
  });
  it('yaml: the rows, long values on one line', async () => {
    const yaml = await formatOutput('yaml', rows, () => 'unused');
    assert.equal(yaml, `- name: kube-token\n  jwks: '${rows[0]?.jwks}'\n`);
  });
});
