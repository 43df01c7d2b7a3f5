// Reads a kube-join output directory in a tight loop, in its own process, while another process renews
// it, and reports how often it saw a key that does not match its certificate. Stops when the file named
// by argv[3] appears, or after argv[4] seconds, and prints one JSON line of counts.
import { readFileSync, readlinkSync, existsSync } from 'node:fs';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { join } from 'node:path';

const [dir, stopFile, maxSeconds] = [process.argv[2] as string, process.argv[3] as string, Number(process.argv[4] ?? 120)];
const counts = { reads: 0, bundleReads: 0, mismatches: 0, bundleMismatches: 0, vanished: 0, sets: new Set<string>() };

function spki(keyPem: Buffer | string): string {
  return createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' }).toString('base64');
}
function certSpki(certPem: Buffer | string): string {
  return new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
}

const deadline = Date.now() + maxSeconds * 1000;
let n = 0;
while (Date.now() < deadline && !(++n % 64 === 0 && existsSync(stopFile))) {
  try {
    // A consistent reader resolves ..data once, then reads both files from that one set.
    const target = readlinkSync(join(dir, '..data'));
    const key = readFileSync(join(dir, target, 'tls.key'));
    const cert = readFileSync(join(dir, target, 'tls.crt'));
    counts.reads++;
    counts.sets.add(target);
    if (spki(key) !== certSpki(cert)) counts.mismatches++;
    // bundle.pem holds key and chain in one file: one read, always a pair.
    const bundle = readFileSync(join(dir, 'bundle.pem'), 'utf8');
    counts.bundleReads++;
    const keyEnd = bundle.indexOf('-----END PRIVATE KEY-----') + '-----END PRIVATE KEY-----'.length;
    if (spki(bundle.slice(0, keyEnd)) !== certSpki(bundle.slice(keyEnd))) counts.bundleMismatches++;
  } catch (err) {
    // The set just read was replaced and removed between readlink and read: read again.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') counts.vanished++;
    else throw err;
  }
}
process.stdout.write(JSON.stringify({ ...counts, sets: counts.sets.size }) + '\n');
