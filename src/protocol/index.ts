export { PROBLEM_CODES, PROBLEM_DISPOSITIONS, dispositionOf } from './codes.ts';
export type { ProblemCode, Disposition } from './codes.ts';
export {
  PROTOCOL_VERSION,
  JOIN_PATH,
  CA_PATH,
  MAX_JOIN_BODY_BYTES,
  AppSpecSchema,
  parseAppSpec,
  JoinRequestSchema,
  JoinResponseSchema,
  IdentitySchema,
  ProblemSchema,
  PROBLEM_CONTENT_TYPE,
} from './schemas.ts';
export type { AppSpec, JoinRequest, JoinResponse, Identity, Problem } from './schemas.ts';
export { spiffeIdFor, authSpiffeIdFor, CLUSTER_NAME_PATTERN, ROLES_EXTENSION_OID, JOIN_BINDING_EXTENSION_OID } from './identity.ts';
export { AGENT_VERSION } from './version.ts';
export {
  ADMIN_TOKENS_PATH,
  ADMIN_INVENTORY_PATH,
  ADMIN_EXTENSION_OID,
  DEFAULT_STATE_DIR,
  AUTH_ADDRESS_FILE,
  ADMIN_IDENTITY_DIR,
  adminIdentityFiles,
  stateDirPaths,
  AgentRecordSchema,
  InventorySchema,
  TokenSummarySchema,
  TokenListSchema,
  ADMIN_CA_PATH,
  ADMIN_CA_ROTATE_PATH,
  CA_ROTATION_PHASES,
  CaEntrySchema,
  CaStatusSchema,
  CaRotateRequestSchema,
} from './admin.ts';
export type { AgentRecord, Inventory, TokenSummary, AdminIdentityFiles, CaEntry, CaStatus, CaRotateRequest } from './admin.ts';
export {
  PROJECTED_TOKEN_DIR,
  PROJECTED_TOKEN_FILE,
  PROJECTED_TOKEN_PATH,
  PROJECTED_TOKEN_EXPIRATION_SECONDS,
  DEFAULT_OUT_DIR,
  CA_BUNDLE_CONFIGMAP,
  CA_BUNDLE_KEY,
  CA_BUNDLE_DIR,
  CA_BUNDLE_PATH,
} from './pod-layout.ts';
