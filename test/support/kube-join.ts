import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnKubeJoin, type KubeJoinProcess } from '../../src/cli/process.ts';

/** Integration tests run the built CLI, as users and the image do: `npm test` builds it first. */
export const DIST_MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export function kubeJoin(args: readonly string[], options: { env?: NodeJS.ProcessEnv; logFile?: string; prefix?: readonly string[] } = {}): KubeJoinProcess {
  if (!existsSync(DIST_MAIN)) throw new Error(`${DIST_MAIN} is missing: run "npm run build" (npm test does) before the integration tests`);
  return spawnKubeJoin(args, { ...options, main: DIST_MAIN });
}

/** Runs a command to its end; returns exit code, stdout lines and stderr. */
export async function kubeJoinRun(args: readonly string[], options: { env?: NodeJS.ProcessEnv; prefix?: readonly string[] } = {}): Promise<{ code: number | string; stdout: string; stderr: string; lines: Record<string, unknown>[] }> {
  const p = kubeJoin(args, options);
  const code = await p.exited;
  await new Promise((r) => setImmediate(r));
  const stdout = p.lines.map((l) => (typeof l.raw === 'string' ? l.raw : JSON.stringify(l))).join('\n');
  return { code, stdout, stderr: p.stderr(), lines: p.lines };
}

export interface AuthProcess {
  proc: KubeJoinProcess;
  addr: string;
  /** host:port of its plain-HTTP /metrics. */
  metricsAddr: string;
  caPin: string;
  stateDir: string;
  caFile: string;
  logFile: string;
  stop(): Promise<void>;
}

/** Starts `kube-join auth` on free loopback ports (join, metrics) with a state dir under `dir`. */
export async function startAuthProcess(dir: string, options: { clusterName: string; args?: string[] }): Promise<AuthProcess> {
  const stateDir = join(dir, 'auth-state');
  const logFile = join(dir, 'auth.log');
  const proc = kubeJoin(['auth', '--state-dir', stateDir, '--listen', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0', '--cluster-name', options.clusterName, ...(options.args ?? [])], { logFile });
  try {
    const ready = await proc.waitFor('auth service listening');
    return {
      proc,
      addr: String(ready.addr),
      metricsAddr: String(ready.metricsAddr),
      caPin: String(ready.caPin),
      stateDir,
      caFile: join(stateDir, 'ca.crt'),
      logFile,
      stop: async () => {
        await proc.stop();
      },
    };
  } catch (err) {
    await proc.stop();
    throw err;
  }
}

/** Provision token YAML for tests. */
export function tokenYaml(options: { name: string; jwks?: unknown; allow?: string[]; roles?: string[]; expires?: string; type?: string; oidcIssuer?: string }): string {
  const allow = (options.allow ?? ['teleport-agent:teleport-app-service']).map((a) => `      - service_account: "${a}"`).join('\n');
  const type = options.type ?? 'static_jwks';
  return [
    'kind: token',
    'version: v2',
    'metadata:',
    `  name: ${options.name}`,
    ...(options.expires ? [`  expires: "${options.expires}"`] : []),
    'spec:',
    `  roles: [${(options.roles ?? ['App', 'Db']).join(', ')}]`,
    '  join_method: kubernetes',
    '  kubernetes:',
    `    type: ${type}`,
    '    allow:',
    allow,
    ...(type === 'static_jwks' ? ['    static_jwks:', `      jwks: '${JSON.stringify(options.jwks)}'`] : []),
    ...(type === 'oidc' ? ['    oidc:', `      issuer: "${options.oidcIssuer}"`] : []),
    '',
  ].join('\n');
}
