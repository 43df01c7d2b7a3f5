import { X509Certificate } from 'node:crypto';
import { readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChannelQueue } from './events.ts';

/** The certificates of a PEM bundle, in order. */
export const certsOf = (pem: string): X509Certificate[] =>
  pem.split(/(?<=-----END CERTIFICATE-----\n?)/).filter((p) => p.includes('BEGIN')).map((p) => new X509Certificate(p));

export interface WrittenSet {
  /** The set's own directory (what `..data` pointed at when read). */
  dir: string;
  leaf: X509Certificate;
  cas: X509Certificate[];
}

/** The set an agent has on disk now, read through one resolution of `..data` (never straddling a swap). */
export async function setOf(out: string): Promise<WrittenSet | undefined> {
  for (let tries = 0; tries < 5; tries++) {
    try {
      const dir = await realpath(join(out, '..data'));
      const [leafPem, caPem] = await Promise.all([readFile(join(dir, 'tls.crt'), 'utf8'), readFile(join(dir, 'ca.crt'), 'utf8')]);
      return { dir, leaf: new X509Certificate(leafPem), cas: certsOf(caPem) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return undefined;
}

/**
 * Waits, one written set (an agent event) at a time, until `done` holds for the set on disk of every
 * output directory in `outs`. Bounded in time (`timeoutMs`) and in the events it looks at; throws
 * naming `what` when the fleet did not get there.
 */
export async function untilEverySet(outs: readonly string[], written: ChannelQueue<unknown>, what: string, done: (set: WrittenSet, i: number) => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let events = 0; events < 50 * outs.length; events++) {
    const sets = await Promise.all(outs.map(setOf));
    if (sets.every((s, i) => s !== undefined && done(s, i))) return;
    const left = deadline - Date.now();
    if (left <= 0) break;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([written.next(), new Promise((r) => (timer = setTimeout(r, left)))]);
    clearTimeout(timer);
  }
  throw new Error(`not every agent reached: ${what}`);
}
