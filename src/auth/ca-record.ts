import { z } from 'zod';
import { X509Certificate } from '../common/x509.ts';
import { CA_ROTATION_PHASES } from '../protocol/index.ts';
import type { StoredCa } from './ca.ts';
import { initialRotation, type Rotation } from './ca-rotation.ts';
import { StorageError } from './errors.ts';
import type { StoredCaRecord } from './storage/types.ts';

/**
 * The rotation state as storage keeps it (`ca-rotation.json`, or `rotation.json` in the CA Secret):
 * every CA with its key as stored (sealed when a key-encryption key is configured), times as RFC 3339.
 */
const PairSchema = z.object({ certPem: z.string(), keyPem: z.string() }).strict();
const StoredRotationSchema = z
  .object({
    version: z.literal(1),
    phase: z.enum(CA_ROTATION_PHASES),
    mode: z.enum(['phased', 'manual']),
    changedAt: z.iso.datetime(),
    current: PairSchema,
    next: PairSchema.optional(),
    previous: PairSchema.extend({ retireAt: z.iso.datetime() }).optional(),
    oldSigningEndedAt: z.iso.datetime().optional(),
    schedule: z.object({ graceMs: z.number().int().nonnegative() }).strict().optional(),
  })
  .strict();

/**
 * The rotation a stored record holds; a record written before any rotation is standby with its one CA,
 * since the CA's own start.
 */
export function rotationOfRecord(record: StoredCaRecord): Rotation<StoredCa> {
  if (record.rotationJson === undefined) return initialRotation(record.ca, new X509Certificate(record.ca.certPem).notBefore.getTime());
  let s: z.infer<typeof StoredRotationSchema>;
  try {
    s = StoredRotationSchema.parse(JSON.parse(record.rotationJson));
  } catch (err) {
    throw new StorageError(`the stored CA rotation state is corrupt: ${(err as Error).message}`, err);
  }
  return {
    phase: s.phase,
    mode: s.mode,
    changedAt: Date.parse(s.changedAt),
    current: s.current,
    ...(s.next ? { next: s.next } : {}),
    ...(s.previous ? { previous: { ca: { certPem: s.previous.certPem, keyPem: s.previous.keyPem }, retireAt: Date.parse(s.previous.retireAt) } } : {}),
    ...(s.oldSigningEndedAt ? { oldSigningEndedAt: Date.parse(s.oldSigningEndedAt) } : {}),
    ...(s.schedule ? { schedule: { graceMs: s.schedule.graceMs } } : {}),
  };
}

/** The record to store for `r`: the current CA also as ca.crt/ca.key, for readers that know no rotation. */
export function recordOfRotation(r: Rotation<StoredCa>): { ca: StoredCa; rotationJson: string } {
  const iso = (ms: number) => new Date(ms).toISOString();
  const stored: z.infer<typeof StoredRotationSchema> = {
    version: 1,
    phase: r.phase,
    mode: r.mode,
    changedAt: iso(r.changedAt),
    current: r.current,
    ...(r.next ? { next: r.next } : {}),
    ...(r.previous ? { previous: { ...r.previous.ca, retireAt: iso(r.previous.retireAt) } } : {}),
    ...(r.oldSigningEndedAt !== undefined ? { oldSigningEndedAt: iso(r.oldSigningEndedAt) } : {}),
    ...(r.schedule !== undefined ? { schedule: { graceMs: r.schedule.graceMs } } : {}),
  };
  return { ca: r.current, rotationJson: JSON.stringify(stored, null, 2) + '\n' };
}
