/**
 * One cold agent join, taken apart: run in a fresh process by coldstart.ts, it loads the modules the
 * built CLI loads for `kube-join agent --once` one group at a time, then does the steps of one join
 * attempt, timing each. Prints one JSON object of { step: ms }. Modules shared by several groups count
 * for the first group that loads them.
 *
 * argv: DIST_DIR AUTH_ADDR CA_FILE TOKEN_PATH OUT_DIR CLUSTER_NAME
 */
const started = performance.now(); // ms since the process started: Node's own bootstrap
const [distDir, authAddr, caFile, tokenPath, outDir, clusterName] = process.argv.slice(2) as [string, string, string, string, string, string];
const steps: Record<string, number> = { 'node bootstrap (to first line of JS)': started };
let last = performance.now();
const mark = (name: string) => {
  const now = performance.now();
  steps[name] = (steps[name] ?? 0) + (now - last);
  last = now;
};
// Computed specifiers: the typecheck does not need dist/ to exist.
const load = (rel: string): Promise<any> => import(new URL(rel, `file://${distDir}/`).href);
const pkg = (name: string): Promise<any> => import(name);

await pkg('commander');
mark('import commander');
await pkg('yaml');
mark('import yaml');
await pkg('zod');
mark('import zod');
await load('common/x509.js');
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
await Promise.all(['cli/agent.js', 'cli/auth.js', 'cli/token.js', 'cli/demo.js', 'cli/options.js', 'agent/index.js', 'common/logger.js'].map(load));
mark('import kube-join modules (cli, agent, protocol, common)');

const { resolveAgentConfig, createAgentMetrics } = await load('agent/index.js');
const { createLogger } = await load('common/logger.js');
const { readServiceAccountToken } = await load('agent/token.js');
const { generateKey, createCsrPem } = await load('agent/keys.js');
const { createJoinClient } = await load('agent/join-client.js');
const { prepareCredentialSet } = await load('agent/credentials.js');
const { writeCredentialSet } = await load('agent/writer.js');
const { AGENT_VERSION } = await load('protocol/index.js');
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
