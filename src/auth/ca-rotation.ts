import { KubeJoinError } from '../common/errors.ts';
import { CA_ROTATION_PHASES } from '../protocol/index.ts';

/**
 * CA rotation as Teleport's `tctl auth rotate` does it, phase by phase, with SPIRE's rule for the end:
 * the replaced CA stays in the bundle until everything it signed has expired.
 *
 * | phase          | signs leaves | serves (auth's TLS) | bundle (GET /v1/ca, caBundle, ConfigMap) |
 * |----------------|--------------|---------------------|------------------------------------------|
 * | standby        | current      | current             | current (+ previous until its retireAt)  |
 * | init           | current      | current             | current + next                           |
 * | update-clients | next         | current             | current + next                           |
 * | update-servers | next         | next                | current + next                           |
 * | → standby      | next becomes current; the old current becomes previous                     |
 *
 * Clients first learn to trust the new CA (init), then get leaves from it (update-clients, as
 * Teleport's update_clients), and only then does the server present a certificate of the new CA
 * (update-servers): at no step does a client meet a CA it does not trust yet.
 *
 * Everything here is pure: `now` and the new CA come in as arguments, so the rules are tested without
 * clocks, storage or keys. `C` is whatever stands for a CA (a stored PEM pair, a loaded key).
 */
export type RotationPhase = (typeof CA_ROTATION_PHASES)[number];

export interface Rotation<C> {
  phase: RotationPhase;
  /** The CA in use at standby; during a rotation, the CA being replaced. */
  current: C;
  /** The CA being rotated in: present from init to update-servers. */
  next?: C;
  /** After a rotation, the replaced CA: in the bundle, never signing, until `retireAt` (ms). */
  previous?: { ca: C; retireAt: number };
  /** When `current` stopped signing (entering update-clients), ms: bounds the expiry of what it signed. */
  oldSigningEndedAt?: number;
  /** How the latest rotation ran: step by step, or all at once (`--manual`, for a compromised key). */
  mode: 'phased' | 'manual';
  /** When the phase last changed, ms. */
  changedAt: number;
  /**
   * An automatic rotation (`--auto`): it steps on by itself, each later phase a third of `graceMs`
   * after the one before (counted from the last change, so an outage never skips a phase); standby
   * ends it.
   */
  schedule?: { graceMs: number };
}

export class RotationPhaseError extends KubeJoinError<'ERR_CA_ROTATION_PHASE'> {
  constructor(message: string) {
    super('ERR_CA_ROTATION_PHASE', message);
  }
}

/** The phase that follows `phase` (standby → init → update-clients → update-servers → standby). */
export function nextPhase(phase: RotationPhase): RotationPhase {
  return CA_ROTATION_PHASES[(CA_ROTATION_PHASES.indexOf(phase) + 1) % CA_ROTATION_PHASES.length] as RotationPhase;
}

/** The CA that signs leaves (and the admin identity) in this phase. */
export function signingCa<C>(r: Rotation<C>): C {
  return (r.phase === 'update-clients' || r.phase === 'update-servers') && r.next !== undefined ? r.next : r.current;
}

/** The CA that signs the auth service's own serving certificate in this phase. */
export function servingCa<C>(r: Rotation<C>): C {
  return r.phase === 'update-servers' && r.next !== undefined ? r.next : r.current;
}

/** Every CA a peer must trust at `now`: current first, then the one rotating in or out. */
export function bundleCas<C>(r: Rotation<C>, now: number): C[] {
  if (r.phase !== 'standby') return r.next === undefined ? [r.current] : [r.current, r.next];
  return r.previous !== undefined && now < r.previous.retireAt ? [r.current, r.previous.ca] : [r.current];
}

/** A rotation that has never run: one CA, standby. */
export function initialRotation<C>(ca: C, now: number): Rotation<C> {
  return { phase: 'standby', current: ca, mode: 'phased', changedAt: now };
}

export interface StepContext<C> {
  now: number;
  /** The new CA, made by the caller: needed (only) to enter init. */
  newCa?: C;
  /** The longest lifetime of a leaf (the auth's --max-cert-ttl). */
  maxLeafLifetimeMs: number;
  /**
   * How long every replica may take to follow a phase change from storage (twice its sync interval):
   * a replica may still sign with the old CA for that long after update-clients was written.
   */
  followLagMs: number;
}

/**
 * Moves a rotation one phase on. Only the next phase is allowed; anything else throws
 * RotationPhaseError naming the phase it is in and the one that may follow. Entering standby ends the
 * rotation: the new CA becomes current, and the old one stays in the bundle until every leaf it may
 * have signed has expired (signing ended + follow lag + the longest leaf lifetime).
 */
export function stepRotation<C>(r: Rotation<C>, target: RotationPhase, ctx: StepContext<C>): Rotation<C> {
  const expected = nextPhase(r.phase);
  if (target === r.phase) throw new RotationPhaseError(`the CA rotation is already in phase "${target}"; the next phase is "${expected}"`);
  if (target !== expected) throw new RotationPhaseError(`the CA rotation cannot go from phase "${r.phase}" to "${target}": the next phase is "${expected}"`);
  const { now } = ctx;
  switch (target) {
    case 'init': {
      if (r.previous !== undefined && now < r.previous.retireAt) {
        throw new RotationPhaseError(`the CA replaced by the last rotation stays in the bundle until ${new Date(r.previous.retireAt).toISOString()} (leaves it signed may live until then); start the next rotation after that, or use --manual`);
      }
      if (ctx.newCa === undefined) throw new RotationPhaseError('phase "init" needs the new CA');
      return { phase: 'init', current: r.current, next: ctx.newCa, mode: 'phased', changedAt: now };
    }
    case 'update-clients':
      return { ...r, phase: 'update-clients', oldSigningEndedAt: now, changedAt: now };
    case 'update-servers':
      return { ...r, phase: 'update-servers', changedAt: now };
    case 'standby': {
      const signingEnded = r.oldSigningEndedAt ?? now;
      const retireAt = Math.max(now, signingEnded + ctx.followLagMs + ctx.maxLeafLifetimeMs);
      return { phase: 'standby', current: r.next as C, previous: { ca: r.current, retireAt }, mode: 'phased', changedAt: now };
    }
  }
}

/**
 * Rotates at once, for a key that must stop being trusted (a compromise): the new CA signs and serves
 * from now, and the old one leaves the bundle after `graceMs` whatever it signed (those leaves then fail
 * to verify, and their agents join anew). Only from standby: a phased rotation in progress is finished
 * first (its phases are quick to step through).
 */
export function manualRotation<C>(r: Rotation<C>, ctx: { now: number; newCa: C; graceMs: number }): Rotation<C> {
  if (r.phase !== 'standby') throw new RotationPhaseError(`a phased CA rotation is in progress (phase "${r.phase}"); step it to standby first (next phase: "${nextPhase(r.phase)}")`);
  return { phase: 'standby', current: ctx.newCa, previous: { ca: r.current, retireAt: ctx.now + ctx.graceMs }, mode: 'manual', changedAt: ctx.now };
}

/** Starts an automatic rotation: init now, then update-clients, update-servers and standby a third of `graceMs` apart. */
export function scheduledRotation<C>(r: Rotation<C>, ctx: StepContext<C> & { graceMs: number }): Rotation<C> {
  return { ...stepRotation(r, 'init', ctx), schedule: { graceMs: ctx.graceMs } };
}

/** When the next phase of an automatic rotation is due, or undefined for a rotation stepped by hand. */
export function nextStepAt<C>(r: Rotation<C>): number | undefined {
  if (r.schedule === undefined || r.phase === 'standby') return undefined;
  return r.changedAt + Math.round(r.schedule.graceMs / 3);
}

/** The phase an automatic rotation is due to step to at `now`, or undefined. */
export function dueStep<C>(r: Rotation<C>, now: number): RotationPhase | undefined {
  const at = nextStepAt(r);
  return at !== undefined && now >= at ? nextPhase(r.phase) : undefined;
}

/** The rotation with the same shape and times, its CAs mapped (stored PEM ↔ loaded key). */
export async function mapRotation<A, B>(r: Rotation<A>, map: (ca: A) => Promise<B>): Promise<Rotation<B>> {
  const { next, previous, ...rest } = r;
  return {
    ...rest,
    current: await map(r.current),
    ...(next !== undefined ? { next: await map(next) } : {}),
    ...(previous !== undefined ? { previous: { ca: await map(previous.ca), retireAt: previous.retireAt } } : {}),
  };
}
