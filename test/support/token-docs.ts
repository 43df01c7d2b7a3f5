import fc from 'fast-check';
import { stringify } from 'yaml';
import { isValidTokenName } from '../../src/auth/tokens.ts';

// Provision token documents for property tests: valid ones, and generators of every way to get one wrong.

/** A valid token of each kubernetes type, as plain data, with every optional field set. */
export const VALID_TOKEN_DOCS: Record<string, unknown>[] = [
  {
    kind: 'token',
    version: 'v2',
    metadata: { name: 'fuzz-token', expires: '2027-01-01T00:00:00Z', labels: { team: 'infra' }, description: 'fuzzed' },
    spec: {
      roles: ['App', 'Db'],
      join_method: 'kubernetes',
      kubernetes: { type: 'static_jwks', allow: [{ service_account: 'teleport-agent:app' }], static_jwks: { jwks: '{"keys":[{"kty":"EC"}]}' } },
    },
  },
  {
    kind: 'token',
    version: 'v2',
    metadata: { name: 'oidc.token' },
    spec: { roles: ['App'], join_method: 'kubernetes', kubernetes: { type: 'oidc', allow: [{ service_account: 'a:b' }], oidc: { issuer: 'https://issuer.example', insecure_allow_http_issuer: false } } },
  },
  { kind: 'token', version: 'v2', metadata: { name: 't' }, spec: { roles: ['App'], join_method: 'kubernetes', kubernetes: { type: 'in_cluster', allow: [{ service_account: 'ns:sa' }, { service_account: 'ns:sb' }] } } },
];

/** Fields a token cannot do without; removing one alone must be reported at exactly that path. */
export const REQUIRED_TOKEN_FIELDS = new Set([
  'kind',
  'version',
  'metadata',
  'metadata.name',
  'spec',
  'spec.roles',
  'spec.join_method',
  'spec.kubernetes',
  'spec.kubernetes.allow',
  'spec.kubernetes.allow[0].service_account',
  'spec.kubernetes.static_jwks',
  'spec.kubernetes.static_jwks.jwks',
  'spec.kubernetes.oidc',
  'spec.kubernetes.oidc.issuer',
]);

export type Path = (string | number)[];

export function pathsOf(value: unknown, prefix: Path = []): Path[] {
  if (value === null || typeof value !== 'object') return [];
  const entries: [string | number, unknown][] = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
  return entries.flatMap(([k, v]) => [[...prefix, k], ...pathsOf(v, [...prefix, k])]);
}

export const dotted = (path: Path) => path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), '');

/** Short strings made of the characters that break paths, messages and files: line breaks, quotes, NUL. */
const weirdString = fc.string({ unit: fc.constantFrom('a', 'Z', '0', '-', '.', ':', '_', ' ', '\n', '\r', '\t', '\u2028', '\u0085', '\u0000', 'é', '"', '\\', '/', '#', '🙂'), maxLength: 12 });

/** RFC 3339 text of the wall-clock time `local` (read as UTC fields) at the UTC offset `minutes`. */
function withOffset(local: Date, minutes: number): string {
  const abs = Math.abs(minutes);
  return `${local.toISOString().slice(0, 19)}${minutes < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/** Expiry dates, many of them at the ends of what RFC 3339 can write (years 0000 and 9999, any offset). */
const expiryText = fc.oneof(
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.tuple(fc.date({ min: new Date('9999-12-31T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }), fc.integer({ min: -23 * 60 - 59, max: 23 * 60 + 59 })).map(([d, m]) => withOffset(d, m)),
  fc.tuple(fc.date({ min: new Date('0000-01-01T00:00:00Z'), max: new Date('0000-01-01T23:59:59Z'), noInvalidDate: true }), fc.integer({ min: -23 * 60 - 59, max: 23 * 60 + 59 })).map(([d, m]) => withOffset(d, m)),
  fc.constantFrom('2026-02-30T00:00:00Z', '2026-01-01T24:00:00Z', '2026-01-01T00:00:60Z', '2026-01-01T00:00:00.123456789+14:00', '2026-01-01', '2026-01-01 00:00:00', 'tomorrow'),
);

/** Values a careless or hostile author might write: YAML's surprises, odd dates, control characters. */
const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    '', ' ', '~', 'null', 'yes', 'no', 'on', '0x1F', '1e3', '.inf', '-.nan', '<<', '*a', '&a x', '!!binary aGk=', 'x'.repeat(300), 'App', 'kubernetes',
    'token', 'v2', 'static_jwks', 'oidc', 'in_cluster', 'ns:sa', 'NS:SA', 'ns:', ':sa', 'http://issuer.example', 'https://', 'javascript:alert(1)',
    '{"keys":[]}', '{"keys":{}}', '{"keys":[1]}', 'not json', '[]', '__proto__', 'constructor',
    0, -1, 1.5, Number.MAX_SAFE_INTEGER, Number.NaN, Number.POSITIVE_INFINITY, true, false, null, [], {}, [null], { service_account: 'ns:sa' },
  ),
  weirdString,
  expiryText,
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.array(weirdString, { maxLength: 4 }),
  fc.dictionary(weirdString, fc.oneof(weirdString, fc.integer(), fc.constant(null)), { maxKeys: 3 }),
  fc.anything({ maxDepth: 2 }),
);

/** A replacement for the value at `path`: odd values and strings, and expiry texts for the expiry. */
export const valueFor = (path: Path): fc.Arbitrary<unknown> => (dotted(path) === 'metadata.expires' ? fc.oneof(expiryText, oddValue) : fc.oneof(weirdString, oddValue));

export type Mutation = { path: Path; op: 'delete' } | { path: Path; op: 'set'; value: unknown } | { path: Path; op: 'rename'; to: string } | { path: Path; op: 'add'; key: string; value: unknown };

function mutationOf(paths: Path[]): fc.Arbitrary<Mutation> {
  const path = fc.constantFrom(...paths);
  const key = fc.oneof(weirdString, fc.string({ unit: 'binary', maxLength: 12 }), fc.constantFrom('__proto__', 'Kind', 'name ', 'kind', 'extra', 'allow', 'type'));
  return fc.oneof(
    fc.record({ path, op: fc.constant('delete' as const) }),
    path.chain((p) => fc.record({ path: fc.constant(p), op: fc.constant('set' as const), value: valueFor(p) })),
    fc.record({ path, op: fc.constant('rename' as const), to: key }),
    fc.record({ path: fc.constantFrom([], ...paths), op: fc.constant('add' as const), key, value: oddValue }),
  );
}

/** Applies `m` to `doc` in place; false when the path no longer leads anywhere (an earlier mutation removed it). */
export function applyMutation(doc: Record<string, unknown>, m: Mutation): boolean {
  const parentPath = m.op === 'add' ? m.path : m.path.slice(0, -1);
  let parent: unknown = doc;
  for (const p of parentPath) {
    if (parent === null || typeof parent !== 'object' || !Object.hasOwn(parent, p)) return false;
    parent = (parent as Record<string | number, unknown>)[p];
  }
  if (parent === null || typeof parent !== 'object') return false;
  const target = parent as Record<string | number, unknown>;
  const last = m.path[m.path.length - 1] as string | number;
  if (m.op !== 'add' && !Object.hasOwn(target, last)) return false;
  // Keys are renamed or added in mappings only; a sequence has no keys to write in YAML.
  if ((m.op === 'add' || m.op === 'rename') && Array.isArray(target)) return false;
  if (m.op === 'add') Object.defineProperty(target, m.key, { value: m.value, enumerable: true, configurable: true, writable: true });
  else if (m.op === 'delete') {
    if (Array.isArray(target) && typeof last === 'number') target.splice(last, 1);
    else delete target[last];
  } else if (m.op === 'set') target[last] = m.value;
  else {
    const value = target[last];
    delete target[last];
    Object.defineProperty(target, m.to, { value, enumerable: true, configurable: true, writable: true });
  }
  return true;
}

export type Style = 'block' | 'flow' | 'json' | 'yaml-1.1';
export const style: fc.Arbitrary<Style> = fc.constantFrom('block', 'flow', 'json', 'yaml-1.1');

/** The text an author could have written for `value`; undefined when it has no YAML form. */
export function serialise(value: unknown, how: Style): string | undefined {
  try {
    if (how === 'json') return JSON.stringify(value);
    if (how === 'yaml-1.1') return `%YAML 1.1\n---\n${stringify(value, { version: '1.1' })}`;
    return stringify(value, how === 'flow' ? { collectionStyle: 'flow' } : {});
  } catch {
    return undefined;
  }
}

/** Any text, and text made of YAML's own tokens (indicators, anchors, tags, directives). */
export const anyText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.string({ unit: 'grapheme', maxLength: 100 }),
  fc
    .array(fc.constantFrom('kind', 'token', 'version', 'v2', 'metadata', 'name', 'spec', ':', ': ', '- ', '-', ' ', '  ', '\n', '\t', '\r', '[', ']', '{', '}', ',', '"', "'", '#', '&a ', '*a', '!!str ', '!!binary ', '!tag ', '<<: ', '? ', '|', '>', '---\n', '...\n', '%YAML 1.1\n', '%TAG ! !x\n', '\\', '\u0000', '\ufeff', 'é', 'x'), { maxLength: 60 })
    .map((parts) => parts.join('')),
);

/** Documents that have tripped YAML readers: alias bombs, unknown aliases, deep nesting, scalars. */
export const TRICKY_TEXTS = [
  'a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nkind: *c\n',
  'kind: *nothing\n',
  '['.repeat(20_000),
  '- '.repeat(30_000) + 'x',
  'kind: token\nkind: token\n',
  '? [a, b]\n: c\n',
  '"just a string"',
  '42',
];

/** Any data fc.anything makes (and token-shaped objects), written as YAML or JSON. */
export const anyYamlData: fc.Arbitrary<string> = (() => {
  const anything = fc.anything({ maxDepth: 4, withDate: true, withMap: true, withSet: true, withBigInt: true, withTypedArray: true, withNullPrototype: true, withBoxedValues: true, withSparseArray: true });
  const tokenShaped = fc.record({ kind: fc.oneof(fc.constant('token'), anything), version: fc.oneof(fc.constant('v2'), anything), metadata: anything, spec: anything }, { requiredKeys: [] });
  return fc
    .tuple(fc.oneof(anything, fc.object({ maxDepth: 3 }), tokenShaped), style)
    .map(([value, how]) => serialise(value, how))
    .filter((text): text is string => text !== undefined);
})();

/** One field of a valid token set to an odd value (`removed` false) or removed, as text. */
export const singleFieldChange: fc.Arbitrary<{ path: Path; removed: boolean; how: Style; text: string }> = fc
  .integer({ min: 0, max: VALID_TOKEN_DOCS.length - 1 })
  .chain((i) => fc.tuple(fc.constant(i), fc.constantFrom(...pathsOf(VALID_TOKEN_DOCS[i])).chain((path) => fc.option(valueFor(path), { nil: undefined, freq: 4 }).map((value) => ({ path, value }))), style))
  .map(([i, { path, value }, how]) => {
    const doc = structuredClone(VALID_TOKEN_DOCS[i]) as Record<string, unknown>;
    applyMutation(doc, value === undefined ? { path, op: 'delete' } : { path, op: 'set', value });
    return { path, removed: value === undefined, how, text: serialise(doc, how) };
  })
  .filter((c): c is { path: Path; removed: boolean; how: Style; text: string } => c.text !== undefined);

/** A valid token with 1-3 fields removed, renamed, added, or set to wrong types and odd values, as text. */
export const mutatedTokenText: fc.Arbitrary<string> = fc
  .integer({ min: 0, max: VALID_TOKEN_DOCS.length - 1 })
  .chain((i) => fc.tuple(fc.constant(i), fc.array(mutationOf(pathsOf(VALID_TOKEN_DOCS[i])), { minLength: 1, maxLength: 3 }), style))
  .map(([i, mutations, how]) => {
    const doc = structuredClone(VALID_TOKEN_DOCS[i]) as Record<string, unknown>;
    for (const m of mutations) applyMutation(doc, m);
    return serialise(doc, how);
  })
  .filter((text): text is string => text !== undefined);

/** A valid token file with 1-4 character-level edits (inserted, removed or replaced characters). */
export const editedTokenText: fc.Arbitrary<string> = (() => {
  const edit = fc.record({ at: fc.nat(), remove: fc.nat({ max: 4 }), insert: fc.oneof(fc.string({ unit: 'binary', maxLength: 4 }), fc.constantFrom(':', ' ', '\n', '  ', '- ', '"', '[', '{', '#', '&a', '*a', '\t')) });
  return fc.tuple(fc.integer({ min: 0, max: VALID_TOKEN_DOCS.length - 1 }), style, fc.array(edit, { minLength: 1, maxLength: 4 })).map(([i, how, edits]) => {
    let text = serialise(VALID_TOKEN_DOCS[i], how) as string;
    for (const e of edits) {
      const at = e.at % (text.length + 1);
      text = text.slice(0, at) + e.insert + text.slice(at + e.remove);
    }
    return text;
  });
})();

/** Valid token files, as any of the styles writes them. */
export const validTokenText: fc.Arbitrary<string> = fc.tuple(fc.constantFrom(...VALID_TOKEN_DOCS), style).map(([doc, how]) => serialise(doc, how) as string);

/** Names the token rules accept (isValidTokenName), many of them near the 200-character limit. */
export const validTokenName: fc.Arbitrary<string> = fc
  .oneof(
    fc.stringMatching(/^[A-Za-z0-9]([A-Za-z0-9._-]{0,198}[A-Za-z0-9])?$/),
    fc.tuple(fc.integer({ min: 150, max: 200 }), fc.constantFrom('a', 'Z', '9')).map(([n, c]) => c.repeat(n)),
  )
  .filter(isValidTokenName);
