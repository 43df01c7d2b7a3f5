// Prototype measurement for the next memory cut (bench/RESULTS.md): how far the long-lived agent would
// sit above the floor if renewals ran in a short-lived child process. Loads parts of the built bundle
// (dist/cli/, found by their exports) in one process and prints its RSS after GC:
//   floor       node with node:https loaded (the bench's floor)
//   parent      what a long-lived parent needs: winston logger, prom-client with default metrics, an
//               HTTP server (health), the agent's option table
//   parent-zod  the same + zod (the agent's config validates --app with it)
//   inproc      the same + what a renewal loads: @peculiar/x509 (key, CSR, parse), got, zod
//   worker      parent + the renewal's modules in a worker thread that then exits
// Run after `npm run build`, with the agent's flags:
//   node --expose-gc --max-semi-space-size=1 --max-old-space-size=48 --jitless bench/prototypes/split-rss.mjs MODE
import { readdirSync, readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
const D = new URL('../../dist/cli/', import.meta.url).pathname;
const find = (re) => D + readdirSync(D).find((f) => f.endsWith('.js') && re.test(readFileSync(D + f, 'utf8').slice(-800)));
const mode = process.argv[2];
const rss = () => Math.round(process.memoryUsage().rss / 1048576 * 10) / 10;
const settle = async () => { for (let i = 0; i < 3; i++) { globalThis.gc?.(); await new Promise((r) => setTimeout(r, 300)); } };
const https = await import('node:https');
async function parentSet() {
  const { createLogger } = await import(find(/createLogger,\s+silentLogger\s*\}/));
  const log = createLogger({ level: 'info', component: 'agent' });
  const { require_prom_client } = await import(find(/require_prom_client/));
  const prom = require_prom_client();
  const reg = new prom.Registry(); prom.collectDefaultMetrics({ register: reg });
  new prom.Gauge({ name: 'x', help: 'x', registers: [reg] }).set(1);
  const http = await import('node:http');
  http.createServer((q, s) => s.end('ok')).listen(0, '127.0.0.1');
  await import(find(/AGENT_OPTIONS\s*\}/)); // option table
  return log;
}
async function heavy() {
  const x = await import(find(/import_x5092 as import_x509/));
  const x509 = x.import_x509;
  x509.cryptoProvider.set(globalThis.crypto);
  const keys = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: [{ CN: ['x'] }], keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } });
  const cert = await x509.X509CertificateGenerator.createSelfSigned({ name: 'CN=x', keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } });
  new x509.X509Certificate(cert.toString('pem'));
  await import(find(/RequestError,\s+source_default/)); // got
  await import(find(/JoinResponseSchema/)); // zod
  await import(find(/AGENT_CHANNELS/)).catch(() => {});
  return csr.toString('pem').length;
}
if (mode === 'floor') {}
else if (mode === 'parent') await parentSet();
else if (mode === 'parent-zod') { await parentSet(); await import(find(/JoinResponseSchema/)); await import(find(/__require,\s+__esm/)); }
else if (mode === 'inproc') { await parentSet(); await heavy(); }
else if (mode === 'worker') {
  await parentSet();
  for (let i = 0; i < Number(process.argv[3] ?? 1); i++) {
    const w = new Worker(new URL(import.meta.url), { argv: ['heavy-worker'], resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 64 } });
    await new Promise((r, j) => { w.once('exit', r); w.once('error', j); });
  }
}
else if (mode === 'heavy-worker') { await heavy(); process.exit(0); }
if (mode !== 'heavy-worker') { await settle(); console.log(mode, process.execArgv.join(' '), rss(), 'MB'); process.exit(0); }
