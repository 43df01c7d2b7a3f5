export { createAgent, AGENT_CHANNELS } from './agent.ts';
export type { Agent, AgentDeps, AgentStatus, ParkedEvent, WrittenEvent, FailedEvent } from './agent.ts';
export { resolveAgentConfig } from './config.ts';
export { AGENT_OPTIONS, PROJECTED_TOKEN_PATH, LEGACY_TOKEN_PATH } from './options.ts';
export type { ResolvedAgentConfig, TrustConfig, HostPort } from './config.ts';
export { systemClock, systemRandom } from './clock.ts';
export type { Clock, Random } from './clock.ts';
export { createAgentMetrics } from './metrics.ts';
export type { AgentMetrics } from './metrics.ts';
export { startHealthServer } from './health.ts';
export type { HealthServer } from './health.ts';
export { renewAt, isExpired } from '../common/renewal.ts';
export type { RenewalPolicy, Validity } from '../common/renewal.ts';
export { retryDelayMs } from '../common/backoff.ts';
export type { BackoffPolicy } from '../common/backoff.ts';
export { writeCredentialSet, readCurrentSet, DATA_LINK } from './writer.ts';
export type { SetFile, WriterFs } from './writer.ts';
export { FILE_KEY, FILE_CERT, FILE_CA, FILE_BUNDLE, FILE_IDENTITY } from './credentials.ts';
export type { IdentityFile } from './credentials.ts';
export {
  TokenReadError,
  JoinRejectedError,
  AuthUnavailableError,
  AuthProtocolError,
  TlsVerifyError,
  CaPinMismatchError,
  CaFileError,
  IssuedCertInvalidError,
  CertWriteError,
  CertExpiredError,
  OnceFailedError,
} from './errors.ts';
export type { AgentErrorCode, AnyAgentError, TokenReadReason } from './errors.ts';
