import { Document, Scalar, parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { TokenSpecError } from './errors.ts';
import { formatExpiry } from '../protocol/admin.ts';
import { fieldPath, kindOf, oneLine, quote, requiredAs, userIssueMessages, yamlErrorText } from '../common/document-errors.ts';

/** A provision token lives 30 minutes unless `metadata.expires` says otherwise (as Teleport's do). */
export const DEFAULT_TOKEN_TTL_MS = 30 * 60 * 1000;

/**
 * How a token's pods prove who they are: a ServiceAccount token the agent sends (in_cluster, static_jwks,
 * oidc), or a PodCertificateRequest the kubelet creates for the pod (pod_certificate: the node
 * authorizer and NodeRestriction vouch for the pod, its node and ServiceAccount; no agent joins with it).
 */
export const KUBERNETES_TYPES = ['in_cluster', 'static_jwks', 'oidc', 'pod_certificate'] as const;
export type KubernetesJoinType = (typeof KUBERNETES_TYPES)[number];

// At most 200 characters: a token is a file `<name>.yaml` in the file storage, written through a
// temporary sibling 23 characters longer, and a file name holds at most 255 bytes.
const NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,198}[A-Za-z0-9])?$/;

/** Whether `name` can name a provision token (and so can never step outside a storage folder). */
export function isValidTokenName(name: string): boolean {
  return NAME.test(name) && !name.includes('..');
}

/**
 * The role names a provision token may grant, Teleport's system roles for joining agents. The one list:
 * a token's `spec.roles` and an agent's `--roles` are matched against it case-insensitively, and stored
 * and granted in these spellings.
 */
export const KNOWN_ROLES = ['App', 'Db', 'Kube', 'Node', 'WindowsDesktop', 'Bot', 'Discovery'] as const;
const ROLES_BY_LOWER_CASE = new Map<string, string>(KNOWN_ROLES.map((r) => [r.toLowerCase(), r]));

/** The canonical spelling of a role name (`app` → `App`); undefined when it is not a known role. */
export function canonicalRole(name: string): string | undefined {
  return ROLES_BY_LOWER_CASE.get(name.toLowerCase());
}

/**
 * A role as stored: a known one in its canonical spelling. A name outside the list is refused when a
 * token is created (checkNewTokenRoles), but one stored by an earlier release still loads, as the
 * name it was created with: an upgrade must not turn a working token into a corrupt one.
 */
const LEGACY_ROLE = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;
const RoleSchema = z.string().transform((name, ctx) => {
  const role = canonicalRole(name);
  if (role !== undefined) return role;
  if (!LEGACY_ROLE.test(name)) {
    ctx.addIssue({ code: 'custom', message: `${quote(name)} is not a known role (known: ${KNOWN_ROLES.join(', ')})` });
    return z.NEVER;
  }
  return name;
});

/** Refuses, at `token create`, a role outside KNOWN_ROLES, naming `spec.roles[N]` and the known ones. */
export function checkNewTokenRoles(token: ProvisionToken): void {
  const at = token.spec.roles.findIndex((r) => canonicalRole(r) === undefined);
  if (at >= 0) throw new TokenSpecError(`spec.roles[${at}]`, `${quote(token.spec.roles[at] as string)} is not a known role (known: ${KNOWN_ROLES.join(', ')})`);
}
// DNS-1123 label for the namespace, DNS-1123 subdomain for the ServiceAccount name, as Kubernetes does.
const SERVICE_ACCOUNT_RULE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?:[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

const AllowRuleSchema = z
  .object({
    service_account: z.string(requiredAs('"namespace:serviceaccount"')).regex(SERVICE_ACCOUNT_RULE, 'must be "namespace:serviceaccount" (Kubernetes names, lower case)'),
  })
  .strict();

const JwksSchema = z.string(requiredAs('a JSON Web Key Set as JSON text')).transform((text, ctx) => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be a JSON Web Key Set (JSON text)' });
    return z.NEVER;
  }
  const shape = z.object({ keys: z.array(z.record(z.string(), z.unknown())).min(1) }).safeParse(parsed);
  if (!shape.success) {
    ctx.addIssue({ code: 'custom', message: 'must be a JSON Web Key Set with at least one key in "keys"' });
    return z.NEVER;
  }
  return text;
});

const KubernetesSpecSchema = z
  .object({
    type: z.enum(KUBERNETES_TYPES, { message: `must be one of ${KUBERNETES_TYPES.join(', ')}` }).default('in_cluster'),
    allow: z.array(AllowRuleSchema, requiredAs('a list such as [{service_account: "namespace:serviceaccount"}]')).min(1, 'must list at least one service_account'),
    static_jwks: z.object({ jwks: JwksSchema }).strict().optional(),
    oidc: z
      .object({
        issuer: z.url({ protocol: /^https?$/, ...requiredAs('the issuer URL, such as https://oidc.example.com') }),
        insecure_allow_http_issuer: z.boolean().default(false),
      })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((k, ctx) => {
    if (k.type === 'static_jwks' && !k.static_jwks) ctx.addIssue({ code: 'custom', path: ['static_jwks'], message: 'is required when type is static_jwks' });
    if (k.type === 'oidc' && !k.oidc) ctx.addIssue({ code: 'custom', path: ['oidc'], message: 'is required when type is oidc' });
    if (k.type === 'oidc' && k.oidc && k.oidc.issuer.startsWith('http:') && !k.oidc.insecure_allow_http_issuer) {
      ctx.addIssue({ code: 'custom', path: ['oidc', 'issuer'], message: 'must be https (set insecure_allow_http_issuer for development)' });
    }
  });

const EXPIRES_MESSAGE = 'must be an RFC 3339 date-time such as 2026-12-31T00:00:00Z';
// Kept to the second, as Teleport writes it: what `token get` prints is then exactly what is stored (a
// sub-second part is dropped, so a token expires at most 999 ms earlier than written, never later).
const toSecond = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000);
// An offset can carry 9999-12-31T23:59:59-12:00 into the year 10000, which toISOString writes as
// +010000-...: a token stored that way would no longer read back. Years 0000-9999 only, in UTC.
const ExpiresSchema = z
  .union([z.date(), z.iso.datetime({ offset: true, message: EXPIRES_MESSAGE })], { message: EXPIRES_MESSAGE })
  .transform((v) => toSecond(v instanceof Date ? v : new Date(v)))
  .refine((d) => /^\d{4}-/.test(Number.isNaN(d.getTime()) ? '' : d.toISOString()), { message: `${EXPIRES_MESSAGE}, in the years 0000 to 9999 (UTC)` });

const ProvisionTokenDocSchema = z
  .object({
    kind: z.literal('token', { message: 'must be "token"' }),
    version: z.literal('v2', { message: 'must be "v2"' }),
    metadata: z
      .object({
        name: z.string(requiredAs('a name such as kube-token')).regex(NAME, 'must be 1-200 letters, digits, ".", "_" or "-"'),
        expires: ExpiresSchema.optional(),
        labels: z.record(z.string(), z.string()).optional(),
        description: z.string().max(1024).optional(),
      }, requiredAs('a mapping with the name'))
      .strict(),
    spec: z
      .object({
        roles: z.array(RoleSchema, requiredAs('a list such as [App, Db]')).min(1, 'must list at least one role'),
        join_method: z.string(requiredAs('kubernetes, the one method kube-join joins with')),
        kubernetes: KubernetesSpecSchema.optional(),
      }, requiredAs('a mapping with roles, join_method and kubernetes'))
      .strict()
      .superRefine((spec, ctx) => {
        if (spec.join_method !== 'kubernetes') {
          ctx.addIssue({ code: 'custom', path: ['join_method'], message: `${quote(spec.join_method)} is not supported: kube-join joins with "kubernetes" only` });
        } else if (!spec.kubernetes) {
          ctx.addIssue({ code: 'custom', path: ['kubernetes'], message: 'is required when join_method is kubernetes' });
        }
        if (new Set(spec.roles).size !== spec.roles.length) ctx.addIssue({ code: 'custom', path: ['roles'], message: 'lists a role twice' });
      }),
  })
  .strict();

/** A provision token as stored: always with an expiry. */
export interface ProvisionToken {
  kind: 'token';
  version: 'v2';
  metadata: { name: string; expires: Date; labels?: Record<string, string>; description?: string };
  spec: {
    roles: string[];
    join_method: 'kubernetes';
    kubernetes: {
      type: KubernetesJoinType;
      allow: { service_account: string }[];
      static_jwks?: { jwks: string };
      oidc?: { issuer: string; insecure_allow_http_issuer: boolean };
    };
  };
}

/**
 * Parses one provision token from YAML (or JSON) text, in Teleport's `kind: token, version: v2` form.
 * Fills `metadata.expires` with now + 30 min when absent. Throws TokenSpecError naming the first bad
 * field (`spec.kubernetes.allow[0].service_account: must be ...`), or the YAML line of a syntax error;
 * the message is always one line (values and odd keys from the document are quoted with escapes).
 */
export function parseProvisionToken(text: string, now: number): ProvisionToken {
  // logLevel error: yaml would otherwise print a process warning (to stderr, outside the JSON log) for
  // odd documents, such as one with a sequence as a key; those are refused below as unknown fields.
  const docs = parseAllDocuments(text, { uniqueKeys: true, prettyErrors: true, logLevel: 'error' });
  if (!Array.isArray(docs)) throw new TokenSpecError('', 'the file holds no YAML document');
  const nonEmpty = docs.filter((d) => d.contents !== null || d.errors.length > 0);
  if (nonEmpty.length === 0) throw new TokenSpecError('', 'the file holds no YAML document');
  if (nonEmpty.length > 1) throw new TokenSpecError('', `the file holds ${nonEmpty.length} YAML documents; give one token per file`);
  const doc = nonEmpty[0] as (typeof nonEmpty)[number];
  const yamlError = doc.errors[0];
  if (yamlError) throw new TokenSpecError('', yamlErrorText('malformed YAML', yamlError));
  let data: unknown;
  try {
    // Aliases are expanded here: an unknown one, or too many (a "billion laughs" document), throws.
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new TokenSpecError('', yamlErrorText('malformed YAML', err));
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new TokenSpecError('', `the document must be a mapping with kind, version, metadata and spec, not ${kindOf(data)}`);
  }
  const parsed = ProvisionTokenDocSchema.safeParse(data, { error: userIssueMessages });
  if (!parsed.success) {
    const issue = parsed.error.issues[0] as z.core.$ZodIssue;
    const unknown = issue.code === 'unrecognized_keys' ? `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.slice(0, 5).map(quote).join(', ')}${issue.keys.length > 5 ? ', ...' : ''}` : undefined;
    if (issue.path.length === 0) throw new TokenSpecError('', `the document has ${unknown ?? oneLine(issue.message)} (a token has kind, version, metadata and spec)`);
    throw new TokenSpecError(fieldPath(issue.path), unknown ?? oneLine(issue.message));
  }
  const value = parsed.data;
  return {
    ...value,
    metadata: { ...value.metadata, expires: value.metadata.expires ?? toSecond(new Date(now + DEFAULT_TOKEN_TTL_MS)) },
    spec: { ...value.spec, join_method: 'kubernetes', kubernetes: value.spec.kubernetes as ProvisionToken['spec']['kubernetes'] },
  };
}

/**
 * YAML as `token get` prints it and storage keeps it, in the shape of Teleport's guide (`expires:
 * "2026-12-01T20:00:00Z"`, quoted, no milliseconds); `parseProvisionToken` reads it back unchanged.
 */
export function formatProvisionToken(token: ProvisionToken): string {
  const doc = new Document({ ...token, metadata: { ...token.metadata, expires: formatExpiry(token.metadata.expires) } });
  const expires = doc.getIn(['metadata', 'expires'], true);
  if (expires instanceof Scalar) expires.type = Scalar.QUOTE_DOUBLE;
  return doc.toString({ lineWidth: 0 });
}

export function isTokenExpired(token: ProvisionToken, now: number): boolean {
  return token.metadata.expires.getTime() <= now;
}
