import type { Logger } from '../common/logger.ts';
import { spkiPin } from '../common/crypto.ts';
import { createCa, issueServingCert, loadCa, type CertificateAuthority } from './ca.ts';
import type { ResolvedAuthConfig } from './config.ts';
import { createAuthMetrics, type AuthMetrics } from './metrics.ts';
import { startAuthServer, type AuthServer } from './server.ts';
import { openFileStorage } from './storage/file.ts';
import type { AuthStorage } from './storage/types.ts';
import { createStaticJwksValidator } from './validators/static-jwks.ts';
import type { ValidatorSet } from './validators/types.ts';

export interface AuthService {
  address: { host: string; port: number };
  /** `sha256:<hex>` of the CA's public key, for agents' --ca-pin. */
  caPin: string;
  ca: CertificateAuthority;
  storage: AuthStorage;
  metrics: AuthMetrics;
  close(): Promise<void>;
}

export interface AuthDeps {
  logger: Logger;
  now: () => number;
  /** Extra or replacement validators by kubernetes type (in_cluster, oidc). */
  validators?: ValidatorSet;
  processMetrics?: boolean;
}

/** Opens storage, loads (or on first start creates) the CA, and serves. */
export async function startAuthService(config: ResolvedAuthConfig, deps: AuthDeps): Promise<AuthService> {
  const storage = await openFileStorage(config.stateDir, { serve: true, now: deps.now });
  let server: AuthServer | undefined;
  try {
    let stored = await storage.getCa();
    if (stored === undefined) {
      stored = await storage.createCa(await createCa(config.clusterName, deps.now()));
      deps.logger.info('created a new CA', { stateDir: config.stateDir });
    }
    const ca = await loadCa(stored);
    const tls = await issueServingCert(ca, config.sans, deps.now());
    const metrics = createAuthMetrics({ processMetrics: deps.processMetrics ?? true });
    const validators: ValidatorSet = {
      static_jwks: createStaticJwksValidator({ audience: config.clusterName, now: () => new Date(deps.now()) }),
      ...deps.validators,
    };
    server = await startAuthServer({
      host: config.listen.host,
      port: config.listen.port,
      tls,
      logger: deps.logger,
      metrics,
      join: { storage, validators, ca, clusterName: config.clusterName, certTtlMs: config.certTtlMs, maxCertTtlMs: config.maxCertTtlMs, now: deps.now },
    });
    const caPin = spkiPin(ca.cert);
    deps.logger.info('auth service listening', { addr: `${server.address.host}:${server.address.port}`, port: server.address.port, caPin, clusterName: config.clusterName });
    const running = server;
    return {
      address: running.address,
      caPin,
      ca,
      storage,
      metrics,
      async close() {
        await running.close();
        await storage.close();
      },
    };
  } catch (err) {
    await server?.close();
    await storage.close();
    throw err;
  }
}
