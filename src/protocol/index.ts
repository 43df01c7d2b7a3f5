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
} from './admin.ts';
export type { AgentRecord, Inventory, TokenSummary, AdminIdentityFiles } from './admin.ts';
