import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatProvisionToken, parseProvisionToken } from '../../../src/auth/tokens.ts';
import { TokenSpecError } from '../../../src/auth/errors.ts';
import { fuzzParameters } from '../../support/fuzz.ts';
import { REQUIRED_TOKEN_FIELDS, TRICKY_TEXTS, anyText, anyYamlData, dotted, editedTokenText, mutatedTokenText, singleFieldChange } from '../../support/token-docs.ts';

const NOW = Date.UTC(2026, 10, 26, 12, 0, 0);

/** Process warnings raised while the properties run: reading a token must not write to stderr. */
const warnings: string[] = [];

/**
 * The property: a token (that reads back unchanged from what `token get` prints) or a TokenSpecError whose
 * message is one line naming the field, or saying what is wrong with the document as a whole.
 */
function parsesOrNamesTheField(text: string): TokenSpecError | undefined {
  let token;
  try {
    token = parseProvisionToken(text, NOW);
  } catch (err) {
    assert.deepEqual(warnings.splice(0), [], 'no process warnings');
    assert.ok(err instanceof TokenSpecError, `not a TokenSpecError: ${err instanceof Error ? err.stack : String(err)}`);
    assert.equal(err.code, 'ERR_TOKEN_SPEC');
    assert.doesNotMatch(err.message, /[\r\n\u2028\u2029]/, 'the message is one line');
    if (err.field === '') {
      assert.match(err.message, /^(malformed YAML( at \d+:\d+)?: \S.*|the file holds no YAML document|the file holds \d+ YAML documents; give one token per file|the document (must be a mapping|has unknown fields?) .+)$/);
    } else {
      assert.match(err.field, /^(kind|version|metadata|spec)(?=$|[.[])/, 'the field is a path into the token');
      assert.ok(err.message.startsWith(`${err.field}: `) && err.message.length > err.field.length + 2, `"${err.message}" names ${err.field}`);
    }
    return err;
  }
  assert.deepEqual(warnings.splice(0), [], 'no process warnings');
  assert.equal(token.kind, 'token');
  assert.ok(Number.isFinite(token.metadata.expires.getTime()), 'the expiry is a real date');
  assert.deepEqual(parseProvisionToken(formatProvisionToken(token), NOW + 1), token, 'what token get prints reads back as the same token');
  return undefined;
}

describe('fuzz: provision token YAML (parseProvisionToken)', function () {
  this.timeout(60_000);
  const emitWarning = process.emitWarning;
  before(() => {
    process.emitWarning = ((warning: string | Error) => void warnings.push(String(warning))) as typeof process.emitWarning;
  });
  after(() => {
    process.emitWarning = emitWarning;
  });

  it('any text: a token or a one-line TokenSpecError, never a crash', () => {
    fc.assert(fc.property(anyText, (t) => void parsesOrNamesTheField(t)), fuzzParameters({ budgetMs: 20_000, examples: TRICKY_TEXTS.map((t) => [t] as [string]) }));
  });

  it('any YAML data (fc.anything serialised with yaml): a token or a one-line TokenSpecError', () => {
    fc.assert(fc.property(anyYamlData, (t) => void parsesOrNamesTheField(t)), fuzzParameters({ budgetMs: 20_000 }));
  });

  it('any one field of a valid token set to an odd value, or removed, is read or named (a removed required field at its path)', () => {
    fc.assert(
      fc.property(singleFieldChange, ({ path, removed, how, text }) => {
        const err = parsesOrNamesTheField(text);
        // In YAML 1.1 a top-level key removed can leave "%YAML 1.1" with a document the reader sees differently.
        if (removed && REQUIRED_TOKEN_FIELDS.has(dotted(path)) && !(how === 'yaml-1.1' && path.length === 1)) {
          assert.equal(err?.field, dotted(path), `removing the required ${dotted(path)} is reported at that path (${err?.message ?? 'parsed'})`);
        }
      }),
      fuzzParameters({ budgetMs: 20_000 }),
    );
  });

  it('several mutations of a valid token (fields removed, renamed, added, wrong types, odd values) are read or named', () => {
    fc.assert(fc.property(mutatedTokenText, (t) => void parsesOrNamesTheField(t)), fuzzParameters({ budgetMs: 20_000 }));
  });

  it('character-level edits of a valid token file are read or named', () => {
    fc.assert(fc.property(editedTokenText, (t) => void parsesOrNamesTheField(t)), fuzzParameters({ budgetMs: 20_000 }));
  });
});
