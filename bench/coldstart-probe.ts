/**
 * One cold agent join, taken apart: run in a fresh process by coldstart.ts, it loads the modules
 * `kube-join agent --once` loads one group at a time, then does the steps of one join attempt, timing
 * each. Prints one JSON object of { step: ms }. Modules shared by several groups count for the first
 * group that loads them. The dependencies load unbundled from node_modules and kube-join's own modules
 * from src/ (with Node's type stripping), so the groups weigh what the bundle holds, not what it costs.
 *
 * argv: SRC_DIR AUTH_ADDR CA_FILE TOKEN_PATH OUT_DIR CLUSTER_NAME
 */
const started = performance.now(); // ms since the process started: Node's own bootstrap
const [srcDir, authAddr, caFile, tokenPath, outDir, clusterName] = process.argv.slice(2) as [string, string, string, string, string, string];
const steps: Record<string, number> = { 'node bootstrap (to first line of JS)': started };
let last = performance.now();
const mark = (name: string) => {
  const now = performance.now();
  steps[name] = (steps[name] ?? 0) + (now - last);
  last = now;
};
// Computed specifiers: the typecheck checks the probe's steps, not the modules' exports.
const load = (rel: string): Promise<any> => import(new URL(rel, `file://${srcDir}/`).href);
const pkg = (name: string): Promise<any> => import(name);

await pkg('commander');
mark('import commander');
await pkg('yaml');
mark('import yaml');
await pkg('zod');
mark('import zod');
await load('common/x509.ts');
mark('import reflect-metadata + @peculiar/x509 (+asn1js, tsyringe)');
await pkg('jose');
mark('import jose');
await pkg('got');
mark('import got');
await pkg('p-retry');
mark('import p-retry');
await pkg('winston');
mark('import winston');
await pkg('prom-client');
mark('import prom-client');
await Promise.all(['cli/agent.ts', 'cli/auth.ts', 'cli/token.ts', 'cli/demo.ts', 'cli/options.ts', 'agent/index.ts', 'common/logger.ts'].map(load));
mark('import kube-join modules (cli, agent, protocol, common)');

const { resolveAgentConfig, createAgentMetrics } = await load('agent/index.ts');
const { createLogger } = await load('common/logger.ts');
const { readServiceAccountToken } = await load('agent/token.ts');
const { generateKey, createCsrPem } = await load('agent/keys.ts');
const { createJoinClient } = await load('agent/join-client.ts');
const { prepareCredentialSet } = await load('agent/credentials.ts');
const { writeCredentialSet } = await load('agent/writer.ts');
const { AGENT_VERSION } = await load('protocol/index.ts');
mark('import kube-join modules (cli, agent, protocol, common)');

const config = resolveAgentConfig({ flags: { authAddr, tokenName: 'bench-token', tokenPath, caFile, outDir, clusterName, once: true, healthAddr: 'off' } }, { fileExists: () => false });
const logger = createLogger({ level: config.logLevel, component: 'agent' });
createAgentMetrics({ processMetrics: false });
mark('config, logger, metrics set-up');
const { token } = await readServiceAccountToken(config.tokenPaths);
mark('read + decode ServiceAccount token');
const material = await generateKey(config.keyAlgorithm);
mark('ECDSA P-256 key generation (first call)');
const csr = await createCsrPem(material, 'probe');
mark('CSR build + sign (first call)');
const client = createJoinClient({ addr: config.authAddr, trust: config.trust, clusterName: config.clusterName, timeoutMs: config.requestTimeoutMs });
const response = await client.join({ tokenName: config.tokenName, joinMethod: 'kubernetes', kubernetesToken: token, csr, agentVersion: AGENT_VERSION });
mark('join request: TLS handshake + auth service work + response check');
const { files } = await prepareCredentialSet(response, material, { now: Date.now(), group: undefined, writeBundle: false });
mark('verify issued chain + export key');
await writeCredentialSet(config.outDir, files, { now: Date.now() });
logger.info('credential set written', { outDir });
mark('atomic write of the set (+ log line)');
process.stdout.write(`\n${JSON.stringify(steps)}\n`);
process.exit(0);
