import assert from 'node:assert/strict';
import { ConfigError } from '../../src/common/errors.ts';
import type { OptionSpec } from '../../src/config/options.ts';

/** One option of every kind, for the option engine's tests. */
export const TABLE: readonly OptionSpec[] = [
  { key: 'outDir', flag: 'out-dir', kind: 'string', default: '/default', help: '' },
  { key: 'tokenPath', flag: 'token-path', kind: 'string', extraEnv: ['KUBERNETES_TOKEN_PATH'], help: '' },
  { key: 'group', flag: 'group', kind: 'int', help: '' },
  { key: 'fraction', flag: 'fraction', kind: 'number', default: 0.5, help: '' },
  { key: 'once', flag: 'once', kind: 'bool', default: false, help: '' },
  { key: 'renewBefore', flag: 'renew-before', kind: 'duration', default: '10m', help: '' },
  { key: 'roles', flag: 'roles', kind: 'list', repeatable: true, help: '' },
  { key: 'format', flag: 'format', kind: 'string', default: 'text', choices: ['text', 'json'], help: '' },
];

/** Asserts that `fn` throws ConfigError for `option` with `message`. */
export function assertConfigError(fn: () => unknown, option: string, message: string | RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.code, 'ERR_CONFIG');
    assert.equal(err.option, option);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}
