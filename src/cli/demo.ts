import { mkdtemp, readFile, rm, writeFile, readlink, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { parseDurationOption } from '../config/options.ts';
import { spawnKubeJoin, type KubeJoinProcess } from './process.ts';

const EXAMPLE_TOKEN = fileURLToPath(new URL('../../examples/token.yaml', import.meta.url));
const CLUSTER = 'demo-cluster';
const NAMESPACE = 'teleport-agent';
const SERVICE_ACCOUNT = 'teleport-app-service';

const say = (text: string) => process.stdout.write(`${text}\n`);

async function runToCompletion(args: string[]): Promise<string> {
  const p = spawnKubeJoin(args);
  const code = await p.exited;
  const out = p.lines.map((l) => (typeof l.raw === 'string' ? l.raw : JSON.stringify(l))).join('\n');
  if (code !== 0) throw new Error(`kube-join ${args.join(' ')} failed (${code}): ${p.stderr()}`);
  return out;
}

/** Prints what a user checks in a new set: files and modes, subject, SAN, roles, expiry, key fingerprint. */
async function describeSet(outDir: string, previousKey: string | undefined): Promise<string> {
  const { X509Certificate } = await import('../common/x509.ts');
  const { decodeRoles } = await import('../auth/ca.ts');
  const target = await readlink(join(outDir, '..data'));
  const certPem = await readFile(join(outDir, target, 'tls.crt'), 'utf8');
  const cert = new X509Certificate(certPem);
  const keyFp = createHash('sha256').update(new Uint8Array(cert.publicKey.rawData)).digest('hex').slice(0, 16);
  const files: string[] = [];
  for (const name of ['tls.key', 'tls.crt', 'ca.crt', 'identity.json']) {
    const s = await stat(join(outDir, name));
    files.push(`${name} (${(s.mode & 0o777).toString(8)})`);
  }
  const san = cert.getExtension('2.5.29.17');
  const lines = [
    `  files     ${files.join('  ')}  -> ${target}`,
    `  subject   ${cert.subject}`,
    `  SAN       ${san ? (san as unknown as { names: { toJSON(): { type: string; value: string }[] } }).names.toJSON().map((n) => `${n.type.toUpperCase()}:${n.value}`).join(', ') : '(none)'}`,
    `  roles     ${(decodeRoles(cert) ?? []).join(', ')}`,
    `  serial    ${cert.serialNumber}`,
    `  valid     ${cert.notBefore.toISOString()} .. ${cert.notAfter.toISOString()}`,
    `  key       sha256:${keyFp}…${previousKey === undefined ? '' : previousKey === keyFp ? '  (SAME KEY as before!)' : '  (new key; previous was sha256:' + previousKey + '…)'}`,
  ];
  return lines.join('\n') + `\n__KEY__${keyFp}`;
}

export function demoCommand(program: Command): void {
  program
    .command('demo')
    .description('run auth service, a local ServiceAccount token issuer and one agent on loopback, and watch certificates appear and renew')
    .option('--duration <duration>', 'stop after this long (default: until Ctrl-C)')
    .option('--cert-ttl <duration>', 'lifetime of the demo certificates', '20s')
    .option('--keep', 'keep the temporary directory')
    .action(async (opts: { duration?: string; certTtl: string; keep?: boolean }) => {
      const durationMs = opts.duration === undefined ? undefined : parseDurationOption(opts.duration, 'duration', '--duration');
      const ttlMs = parseDurationOption(opts.certTtl, 'certTtl', '--cert-ttl');
      const { createTokenIssuer } = await import('../demo/index.ts');
      const dir = await mkdtemp(join(tmpdir(), 'kube-join-demo-'));
      const children: KubeJoinProcess[] = [];
      let rotation: NodeJS.Timeout | undefined;
      let watch: NodeJS.Timeout | undefined;
      const issuer = await createTokenIssuer();
      const finished = new Promise<string>((resolve) => {
        process.once('SIGINT', () => resolve('Ctrl-C'));
        process.once('SIGTERM', () => resolve('SIGTERM'));
        if (durationMs !== undefined) setTimeout(() => resolve(`--duration ${opts.duration}`), durationMs).unref();
      });
      try {
        say(`kube-join demo in ${dir}\n`);
        say('1. Start the auth service (file storage, new CA):');
        const auth = spawnKubeJoin(['auth', '--state-dir', join(dir, 'auth'), '--listen', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0', '--cluster-name', CLUSTER, '--cert-ttl', opts.certTtl], { logFile: join(dir, 'auth.log') });
        children.push(auth);
        const ready = await auth.waitFor('auth service listening');
        say(`   listening on ${String(ready.addr)} (metrics on http://${String(ready.metricsAddr)}/metrics), CA pin ${String(ready.caPin)}\n`);

        say(`2. Create the provision token from examples/token.yaml (static_jwks, with the local issuer's keys):`);
        const { parseDocument } = await import('./yaml.ts');
        const doc = parseDocument(await readFile(EXAMPLE_TOKEN, 'utf8'));
        doc.setIn(['spec', 'kubernetes', 'static_jwks', 'jwks'], JSON.stringify(issuer.jwks()));
        await writeFile(join(dir, 'token.yaml'), doc.toString());
        say(`   $ kube-join token create -f token.yaml\n   ${(await runToCompletion(['token', 'create', '-f', join(dir, 'token.yaml'), '--state-dir', join(dir, 'auth')])).trim()}`);
        say((await runToCompletion(['token', 'ls', '--state-dir', join(dir, 'auth')])).replace(/^/gm, '   '));

        say(`3. Project a ServiceAccount token for ${NAMESPACE}:${SERVICE_ACCOUNT} (audience ${CLUSTER}), rotated every 20s:`);
        const tokenPath = join(dir, 'secrets', 'token');
        const mint = () => issuer.writeToken(tokenPath, { namespace: NAMESPACE, serviceAccount: SERVICE_ACCOUNT, podName: 'app-7d9f8-x2x4q', audience: CLUSTER, ttlSeconds: 600 });
        await mint();
        rotation = setInterval(() => void mint(), 20_000);
        say(`   ${tokenPath}\n`);

        say('4. Start the agent (fresh ECDSA P-256 key per join, CA verified by pin):');
        const outDir = join(dir, 'certs');
        const agent = spawnKubeJoin([
          'agent', '--auth-addr', String(ready.addr), '--ca-pin', String(ready.caPin), '--cluster-name', CLUSTER, '--token-name', 'kube-token',
          '--token-path', tokenPath, '--out-dir', outDir, '--roles', 'App', '--app', 'grafana=http://localhost:3000',
          '--health-addr', '127.0.0.1:0', '--ttl', `${Math.ceil(ttlMs / 1000)}s`,
        ], { logFile: join(dir, 'agent.log') });
        children.push(agent);
        const health = await agent.waitFor('health server listening');
        say(`   health on http://127.0.0.1:${String(health.port)}/readyz, logs in ${join(dir, 'agent.log')}\n`);

        let seen = 0;
        let previousKey: string | undefined;
        let busy = false;
        watch = setInterval(() => {
          if (busy) return;
          busy = true;
          void (async () => {
            const written = agent.lines.filter((l) => l.msg === 'credential set written');
            if (written.length > seen) {
              seen = written.length;
              const text = await describeSet(outDir, previousKey);
              const [body, key] = text.split('\n__KEY__');
              say(seen === 1 ? '5. First credential set written:' : `   Renewal #${seen - 1}:`);
              say(`${body}\n`);
              if (seen === 1) {
                say('6. The auth service\'s inventory:\n   $ kube-join apps ls');
                say((await runToCompletion(['apps', 'ls', '--state-dir', join(dir, 'auth')])).replace(/^/gm, '   '));
                say('   Waiting for renewals (each with a new key); Ctrl-C stops.\n');
              }
              previousKey = key;
            }
            const failed = agent.lines.filter((l) => l.msg === 'join attempt failed' || l.level === 'error').pop();
            if (failed && seen === 0) say(`   (agent: ${String(failed.error ?? failed.msg)})`);
          })().catch((err: Error) => say(`   (could not read the set: ${err.message})`)).finally(() => {
            busy = false;
          });
        }, 250);
        const why = await Promise.race([finished, agent.exited.then((c) => `agent exited (${c})`)]);
        say(`Stopping (${why}). ${seen} set(s) written, ${Math.max(0, seen - 1)} renewal(s).`);
      } finally {
        clearInterval(rotation);
        clearInterval(watch);
        for (const c of children.reverse()) await c.stop();
        await issuer.close();
        if (opts.keep) say(`kept ${dir}`);
        else await rm(dir, { recursive: true, force: true });
      }
    });
}
