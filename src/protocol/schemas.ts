import { z } from 'zod';
import { PROBLEM_CODES } from './codes.ts';

/** Version of the wire protocol; the path prefix of every endpoint. */
export const PROTOCOL_VERSION = 'v1';

export const JOIN_PATH = `/${PROTOCOL_VERSION}/join`;
export const CA_PATH = `/${PROTOCOL_VERSION}/ca`;

/** Largest join request body the auth service reads; a CSR and a token fit in a few KiB. */
export const MAX_JOIN_BODY_BYTES = 64 * 1024;

const pem = (label: string) =>
  z
    .string()
    .max(32 * 1024)
    .refine((s) => s.includes(`-----BEGIN ${label}-----`), { message: `must be a PEM ${label}` });

const dnsLabelish = z.string().min(1).max(253).regex(/^[A-Za-z0-9._-]+$/, 'may hold only letters, digits, ".", "_" and "-"');

export const AppSpecSchema = z
  .object({
    name: z.string().min(1).max(63).regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS-1123 label'),
    uri: z.string().min(1).max(2048),
    labels: z.record(z.string().max(63), z.string().max(253)).optional(),
  })
  .strict();
export type AppSpec = z.infer<typeof AppSpecSchema>;

/** `name=uri` (the agent's `--app`, the injector's `kube-join.io/apps`, a podCertificate's `kube-join.io/apps` entries) as an AppSpec; undefined when malformed. */
export function parseAppSpec(text: string): AppSpec | undefined {
  const eq = text.indexOf('=');
  const parsed = AppSpecSchema.safeParse(eq > 0 ? { name: text.slice(0, eq), uri: text.slice(eq + 1) } : undefined);
  return parsed.success ? parsed.data : undefined;
}

export const JoinRequestSchema = z
  .object({
    tokenName: z.string().min(1).max(253),
    joinMethod: z.string().min(1).max(64),
    kubernetesToken: z.string().min(1).max(16 * 1024),
    csr: pem('CERTIFICATE REQUEST'),
    roles: z.array(z.string().min(1).max(64)).max(32).optional(),
    /** Obsolete: the host ID is the pod the token proves. Accepted only when it names that pod. */
    hostId: dnsLabelish.optional(),
    nodeName: dnsLabelish.optional(),
    apps: z.array(AppSpecSchema).max(64).optional(),
    ttlSeconds: z.number().int().positive().max(7 * 24 * 3600).optional(),
    agentVersion: z.string().min(1).max(64),
  })
  .strict();
export type JoinRequest = z.infer<typeof JoinRequestSchema>;

export const IdentitySchema = z
  .object({
    hostId: z.string(),
    namespace: z.string(),
    serviceAccount: z.string(),
    podName: z.string(),
    podUid: z.string(),
    roles: z.array(z.string()),
    spiffeId: z.string(),
  })
  .strict();
export type Identity = z.infer<typeof IdentitySchema>;

export const JoinResponseSchema = z
  .object({
    certificateChain: pem('CERTIFICATE'),
    caBundle: pem('CERTIFICATE'),
    notAfter: z.iso.datetime(),
    identity: IdentitySchema,
  })
  .strict();
export type JoinResponse = z.infer<typeof JoinResponseSchema>;

/** RFC 9457 problem details, with kube-join's stable `code`. Unknown members are allowed by the RFC. */
export const ProblemSchema = z.object({
  type: z.string().optional(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string().optional(),
  code: z.enum(PROBLEM_CODES),
});
export type Problem = z.infer<typeof ProblemSchema>;

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
