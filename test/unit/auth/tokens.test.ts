import assert from 'node:assert/strict';
import { parseProvisionToken, formatProvisionToken, isTokenExpired, canonicalRole, checkNewTokenRoles, DEFAULT_TOKEN_TTL_MS, KNOWN_ROLES } from '../../../src/auth/tokens.ts';
import { TokenSpecError } from '../../../src/auth/errors.ts';

const NOW = Date.UTC(2026, 10, 26, 12, 0, 0);
const SEED = `kind: token
version: v2
metadata:
  name: kube-token
spec:
  roles: [App]
  join_method: kubernetes
  kubernetes:
    type: in_cluster
    allow:
      - service_account: "teleport-agent:teleport-app-service"
`;

function rejects(yaml: string, field: string, message: string): void {
  assert.throws(() => parseProvisionToken(yaml, NOW), (err: unknown) => {
    assert.ok(err instanceof TokenSpecError, String(err));
    assert.equal(err.code, 'ERR_TOKEN_SPEC');
    assert.equal(err.field, field);
    assert.equal(err.message, message);
    return true;
  });
}

describe('parseProvisionToken', () => {
  it('reads the seed token and gives it the default 30 minute expiry', () => {
    const t = parseProvisionToken(SEED, NOW);
    assert.equal(t.metadata.name, 'kube-token');
    assert.deepEqual(t.spec.roles, ['App']);
    assert.equal(t.spec.kubernetes.type, 'in_cluster');
    assert.deepEqual(t.spec.kubernetes.allow, [{ service_account: 'teleport-agent:teleport-app-service' }]);
    assert.equal(t.metadata.expires.getTime(), NOW + DEFAULT_TOKEN_TTL_MS);
  });

  it('defaults the kubernetes type to in_cluster', () => {
    assert.equal(parseProvisionToken(SEED.replace('    type: in_cluster\n', ''), NOW).spec.kubernetes.type, 'in_cluster');
  });

  it('keeps an explicit expiry, quoted or not', () => {
    assert.equal(parseProvisionToken(SEED.replace('  name: kube-token', '  name: kube-token\n  expires: "2027-01-01T00:00:00Z"'), NOW).metadata.expires.toISOString(), '2027-01-01T00:00:00.000Z');
  });

  it('round-trips through formatProvisionToken (what token get prints)', () => {
    const t = parseProvisionToken(SEED.replace('[App]', '[App, Db]'), NOW);
    assert.deepEqual(parseProvisionToken(formatProvisionToken(t), NOW + 1), t);
    const text = formatProvisionToken(t);
    assert.equal(formatProvisionToken(parseProvisionToken(text, NOW + 1)), text, 'the printed YAML reads back to the same YAML');
  });

  it('prints the expiry as Teleport\'s guide writes it: quoted, in UTC, without milliseconds', () => {
    const t = parseProvisionToken(SEED.replace('  name: kube-token', '  name: kube-token\n  expires: "2026-12-01T21:00:00+01:00"'), NOW);
    assert.match(formatProvisionToken(t), /^  expires: "2026-12-01T20:00:00Z"$/m);
  });

  it('keeps an expiry to the second: the default one, and a written one (rounded down, never later)', () => {
    const t = parseProvisionToken(SEED, NOW + 123);
    assert.equal(t.metadata.expires.getTime(), NOW + DEFAULT_TOKEN_TTL_MS);
    assert.match(formatProvisionToken(t), /^  expires: "2026-11-26T12:30:00Z"$/m);
    const written = parseProvisionToken(SEED.replace('  name: kube-token', '  name: kube-token\n  expires: "2027-01-01T00:00:00.999Z"'), NOW);
    assert.equal(written.metadata.expires.toISOString(), '2027-01-01T00:00:00.000Z');
  });

  it('matches role names case-insensitively and stores them in their canonical spelling', () => {
    assert.deepEqual(parseProvisionToken(SEED.replace('[App]', '[app, DB, windowsdesktop]'), NOW).spec.roles, ['App', 'Db', 'WindowsDesktop']);
    assert.deepEqual([...KNOWN_ROLES], ['App', 'Db', 'Kube', 'Node', 'WindowsDesktop', 'Bot', 'Discovery']);
    assert.equal(canonicalRole('kube'), 'Kube');
    assert.equal(canonicalRole('Admin'), undefined);
  });

  describe('names the first bad field', () => {
    const cases: [string, string, string, string][] = [
      ['if the YAML is malformed, say so with line:column and the parser message', 'kind: token\nversion: [v2\n', '', 'malformed YAML at 3:1: Flow sequence in block collection must be sufficiently indented and end with a ]'],
      ['if a mapping is indented where it cannot be, give its line:column', 'kind: token\n  version: v2\n', '', 'malformed YAML at 1:7: Nested mappings are not allowed in compact mappings'],
      ['if roles are missing, say what to write', SEED.replace('  roles: [App]\n', ''), 'spec.roles', 'spec.roles: required (a list such as [App, Db])'],
      ['if roles are one string, say it must be a list', SEED.replace('roles: [App]', 'roles: App'), 'spec.roles', 'spec.roles: must be a list, not a string'],
      ['if a role is a number', SEED.replace('roles: [App]', 'roles: [7]'), 'spec.roles[0]', 'spec.roles[0]: must be a string, not a number'],
      ['if spec is missing', 'kind: token\nversion: v2\nmetadata: {name: x}\n', 'spec', 'spec: required (a mapping with roles, join_method and kubernetes)'],
      ['if the name is missing', SEED.replace('  name: kube-token\n', '  labels: {}\n'), 'metadata.name', 'metadata.name: required (a name such as kube-token)'],
      ['if an allow entry is a string, not a mapping', SEED.replace(/    allow:\n.*\n/, '    allow: ["ns:sa"]\n'), 'spec.kubernetes.allow[0]', 'spec.kubernetes.allow[0]: must be a mapping, not a string'],
      ['if allow is missing', SEED.replace(/    allow:\n.*\n/, ''), 'spec.kubernetes.allow', 'spec.kubernetes.allow: required (a list such as [{service_account: "namespace:serviceaccount"}])'],
      ['if insecure_allow_http_issuer is not true or false', SEED.replace('type: in_cluster', 'type: oidc\n    oidc: {issuer: "https://x.example", insecure_allow_http_issuer: "yes"}'), 'spec.kubernetes.oidc.insecure_allow_http_issuer', 'spec.kubernetes.oidc.insecure_allow_http_issuer: must be true or false, not a string'],
      ['if the description is too long', SEED.replace('  name: kube-token', `  name: kube-token\n  description: ${'x'.repeat(1025)}`), 'metadata.description', 'metadata.description: must be at most 1024 characters'],
      ['if kind is not token', SEED.replace('kind: token', 'kind: role'), 'kind', 'kind: must be "token"'],
      ['if version is not v2', SEED.replace('version: v2', 'version: v1'), 'version', 'version: must be "v2"'],
      ['if a field is unknown', SEED.replace('  roles: [App]', '  roles: [App]\n  bot_name: x'), 'spec', 'spec: unknown field "bot_name"'],
      ['if join_method is token', SEED.replace('join_method: kubernetes', 'join_method: token'), 'spec.join_method', 'spec.join_method: "token" is not supported: kube-join joins with "kubernetes" only'],
      ['if an allow rule is not namespace:name', SEED.replace('"teleport-agent:teleport-app-service"', '"teleport-app-service"'), 'spec.kubernetes.allow[0].service_account', 'spec.kubernetes.allow[0].service_account: must be "namespace:serviceaccount" (Kubernetes names, lower case)'],
      ['if allow is empty', SEED.replace(/    allow:\n.*\n/, '    allow: []\n'), 'spec.kubernetes.allow', 'spec.kubernetes.allow: must list at least one service_account'],
      ['if static_jwks has no jwks', SEED.replace('type: in_cluster', 'type: static_jwks'), 'spec.kubernetes.static_jwks', 'spec.kubernetes.static_jwks: is required when type is static_jwks'],
      ['if the jwks is not JSON', SEED.replace('type: in_cluster', 'type: static_jwks\n    static_jwks:\n      jwks: "not json"'), 'spec.kubernetes.static_jwks.jwks', 'spec.kubernetes.static_jwks.jwks: must be a JSON Web Key Set (JSON text)'],
      ['if the type is unknown', SEED.replace('type: in_cluster', 'type: magic'), 'spec.kubernetes.type', 'spec.kubernetes.type: must be one of in_cluster, static_jwks, oidc, pod_certificate'],
      ['if a role is listed twice', SEED.replace('[App]', '[App, App]'), 'spec.roles', 'spec.roles: lists a role twice'],
      ['if a role is listed twice in two spellings', SEED.replace('[App]', '[App, app]'), 'spec.roles', 'spec.roles: lists a role twice'],
      ['if a role is not even a role name', SEED.replace('[App]', '[App, "a b"]'), 'spec.roles[1]', 'spec.roles[1]: "a b" is not a known role (known: App, Db, Kube, Node, WindowsDesktop, Bot, Discovery)'],
      ['if the name could escape a folder', SEED.replace('name: kube-token', 'name: ../etc'), 'metadata.name', 'metadata.name: must be 1-200 letters, digits, ".", "_" or "-"'],
      ['if the expiry is not a date', SEED.replace('  name: kube-token', '  name: kube-token\n  expires: tomorrow'), 'metadata.expires', 'metadata.expires: must be an RFC 3339 date-time such as 2026-12-31T00:00:00Z'],
      ['if a key is given twice', SEED.replace('version: v2', 'version: v2\nversion: v2'), '', 'malformed YAML at 3:1: Map keys must be unique'],
    ];
    for (const [title, yaml, field, message] of cases) it(title, () => rejects(yaml, field, message));
  });

  it('refuses a new token with a role outside the known ones, but still loads one an earlier release stored', () => {
    const stored = parseProvisionToken(SEED.replace('[App]', '[App, Admin]'), Date.now());
    assert.deepEqual(stored.spec.roles, ['App', 'Admin']);
    assert.throws(() => checkNewTokenRoles(stored), (err: unknown) => {
      assert.ok(err instanceof TokenSpecError);
      assert.equal(err.message, 'spec.roles[1]: "Admin" is not a known role (known: App, Db, Kube, Node, WindowsDesktop, Bot, Discovery)');
      return true;
    });
    assert.doesNotThrow(() => checkNewTokenRoles(parseProvisionToken(SEED.replace('[App]', '[app, DB]'), Date.now())));
  });

  it('refuses a file with two tokens', () => {
    rejects(`${SEED}---\n${SEED}`, '', 'the file holds 2 YAML documents; give one token per file');
  });

  it('refuses an empty file', () => {
    rejects('# nothing\n', '', 'the file holds no YAML document');
  });

  it('tells expired tokens apart', () => {
    const t = parseProvisionToken(SEED, NOW);
    assert.equal(isTokenExpired(t, NOW), false);
    assert.equal(isTokenExpired(t, NOW + DEFAULT_TOKEN_TTL_MS), true);
  });
});
