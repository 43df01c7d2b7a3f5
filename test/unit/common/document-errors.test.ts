import assert from 'node:assert/strict';
import { parse, parseDocument } from 'yaml';
import { z } from 'zod';
import { fieldPath, firstIssueText, kindOf, requiredAs, userIssueMessages, yamlErrorText } from '../../../src/common/document-errors.ts';

describe('document errors in a user\'s words', () => {
  const Doc = z
    .object({
      roles: z.array(z.string(), requiredAs('a list such as [App, Db]')),
      name: z.string().max(5).optional(),
      issuer: z.url().optional(),
      enabled: z.boolean().optional(),
      labels: z.record(z.string(), z.string()).optional(),
    })
    .strict();
  const first = (value: unknown) => {
    const r = Doc.safeParse(value, { error: userIssueMessages });
    assert.ok(!r.success);
    return firstIssueText(r.error);
  };

  const cases: [string, unknown, string][] = [
    ['a missing field with an example says what to write', {}, 'roles: required (a list such as [App, Db])'],
    ['an empty field (YAML `roles:`) is missing too', { roles: null }, 'roles: required (a list such as [App, Db])'],
    ['a string where a list belongs', { roles: 'App' }, 'roles: must be a list, not a string'],
    ['a number inside a list', { roles: [7] }, 'roles[0]: must be a string, not a number'],
    ['a string where true or false belongs', { roles: [], enabled: 'yes' }, 'enabled: must be true or false, not a string'],
    ['a list where a mapping belongs', { roles: [], labels: ['a'] }, 'labels: must be a mapping, not a list'],
    ['a string that is too long', { roles: [], name: 'abcdefg' }, 'name: must be at most 5 characters'],
    ['a URL that is not one', { roles: [], issuer: 'nope' }, 'issuer: must be a URL'],
  ];
  for (const [title, value, message] of cases) it(title, () => assert.equal(first(value), message));

  it('a mapping key that is not a plain name is quoted in the path', () => {
    assert.equal(fieldPath(['metadata', 'labels', 'a b', 0]), 'metadata.labels["a b"][0]');
  });

  it('names what a value is as YAML does', () => {
    assert.deepEqual([null, [], {}, 'x', 1, true].map(kindOf), ['empty', 'a list', 'a mapping', 'a string', 'a number', 'true or false']);
  });

  it('a YAML syntax error gives line:column and the parser\'s message without its code frame', () => {
    const err = parseDocument('kind: token\n  version: v2\n').errors[0];
    assert.equal(yamlErrorText('malformed YAML', err), 'malformed YAML at 1:7: Nested mappings are not allowed in compact mappings');
    assert.throws(() => parse('a: *x\n'), (e: unknown) => yamlErrorText('malformed YAML', e) === 'malformed YAML: Unresolved alias (the anchor must be set before the alias): x');
  });
});
