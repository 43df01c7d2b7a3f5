import type { JSONWebKeySet } from 'jose';

const subtle = globalThis.crypto.subtle;

export interface OpCost {
  op: string;
  /** CPU µs per operation (user + system of this process, every thread). */
  cpuUs: number;
  /** Wall µs per operation, one at a time. */
  wallUs: number;
}

function b64urlDecode(text: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(Buffer.from(text, 'base64url'));
}

async function timeOp(op: string, n: number, fn: () => Promise<unknown>): Promise<OpCost> {
  for (let i = 0; i < Math.min(200, n); i++) await fn(); // warm-up
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn();
  const wallUs = Number(process.hrtime.bigint() - t0) / 1e3 / n;
  const cpu = process.cpuUsage(cpu0);
  return { op, cpuUs: (cpu.user + cpu.system) / n, wallUs };
}

/**
 * The raw WebCrypto cost of one join, measured in this process: one RS256 verify of a real
 * ServiceAccount JWT, one ECDSA P-256 verify (the CSR's proof of possession) and one ECDSA P-256 sign
 * (the certificate). The ceiling is 1e6 / (sum of CPU µs) joins per CPU-second.
 */
export async function measureCryptoCeiling(jwt: string, jwks: JSONWebKeySet, n = 2000): Promise<{ ops: OpCost[]; joinsPerCpuSecond: number; joinsPerSecondSequential: number }> {
  const [h, p, s] = jwt.split('.') as [string, string, string];
  const rsaKey = await subtle.importKey('jwk', jwks.keys[0] as JsonWebKey, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['verify']);
  const signed = new TextEncoder().encode(`${h}.${p}`);
  const rsaSig = b64urlDecode(s);
  if (!(await subtle.verify('RSASSA-PKCS1-v1_5', rsaKey, rsaSig, signed))) throw new Error('ceiling: the JWT does not verify');

  const ecdsa = { name: 'ECDSA', hash: 'SHA-256' };
  const csrKey = await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const csrTbs = new Uint8Array(300).fill(7); // a CSR's certificationRequestInfo is ~300 bytes
  const csrSig = await subtle.sign(ecdsa, csrKey.privateKey, csrTbs);
  const caKey = await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  const leafTbs = new Uint8Array(600).fill(9); // a leaf's tbsCertificate is ~600 bytes

  const ops = [
    await timeOp('RS256 verify (ServiceAccount JWT)', n, () => subtle.verify('RSASSA-PKCS1-v1_5', rsaKey, rsaSig, signed)),
    await timeOp('ECDSA P-256 verify (CSR)', n, () => subtle.verify(ecdsa, csrKey.publicKey, csrSig, csrTbs)),
    await timeOp('ECDSA P-256 sign (certificate)', n, () => subtle.sign(ecdsa, caKey.privateKey, leafTbs)),
  ];
  const cpu = ops.reduce((a, o) => a + o.cpuUs, 0);
  const wall = ops.reduce((a, o) => a + o.wallUs, 0);
  return { ops, joinsPerCpuSecond: 1e6 / cpu, joinsPerSecondSequential: 1e6 / wall };
}
