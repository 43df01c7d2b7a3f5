import assert from 'node:assert/strict';
import {
  RotationPhaseError,
  bundleCas,
  initialRotation,
  dueStep,
  manualRotation,
  nextPhase,
  nextStepAt,
  scheduledRotation,
  servingCa,
  signingCa,
  stepRotation,
  type Rotation,
  type RotationPhase,
} from '../../../src/auth/ca-rotation.ts';

const T0 = Date.parse('2026-12-01T20:00:00Z');
const MIN = 60_000;
const HOUR = 60 * MIN;
const ctx = (now: number, newCa?: string) => ({ now, maxLeafLifetimeMs: HOUR, followLagMs: 20_000, ...(newCa !== undefined ? { newCa } : {}) });

/** standby → init → update-clients → update-servers, one minute apart, from CA "old" to CA "new". */
function through(phase: RotationPhase): Rotation<string> {
  let r = initialRotation('old', T0);
  const order: RotationPhase[] = ['init', 'update-clients', 'update-servers', 'standby'];
  for (const [i, p] of order.entries()) {
    r = stepRotation(r, p, ctx(T0 + (i + 1) * MIN, 'new'));
    if (p === phase) return r;
  }
  return r;
}

function rejects(fn: () => unknown, message: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof RotationPhaseError);
    assert.equal(err.code, 'ERR_CA_ROTATION_PHASE');
    assert.equal(err.message, message);
    return true;
  });
}

describe('CA rotation phases (pure)', () => {
  it('the phases follow one another in a ring', () => {
    assert.deepEqual(['standby', 'init', 'update-clients', 'update-servers'].map((p) => nextPhase(p as RotationPhase)), ['init', 'update-clients', 'update-servers', 'standby']);
  });

  const table: { phase: RotationPhase | 'start'; signs: string; serves: string; bundle: string[] }[] = [
    { phase: 'start', signs: 'old', serves: 'old', bundle: ['old'] },
    { phase: 'init', signs: 'old', serves: 'old', bundle: ['old', 'new'] },
    { phase: 'update-clients', signs: 'new', serves: 'old', bundle: ['old', 'new'] },
    { phase: 'update-servers', signs: 'new', serves: 'new', bundle: ['old', 'new'] },
    { phase: 'standby', signs: 'new', serves: 'new', bundle: ['new', 'old'] },
  ];
  for (const row of table) {
    it(`in ${row.phase === 'start' ? 'standby before any rotation' : `phase ${row.phase}`}, ${row.signs} signs, ${row.serves} serves, the bundle is ${row.bundle.join('+')}`, () => {
      const r = row.phase === 'start' ? initialRotation('old', T0) : through(row.phase);
      assert.equal(signingCa(r), row.signs);
      assert.equal(servingCa(r), row.serves);
      assert.deepEqual(bundleCas(r, r.changedAt), row.bundle);
    });
  }

  it('the server switches only after clients were given the new CA, and clients renew onto it before that', () => {
    const init = through('init');
    assert.ok(bundleCas(init, init.changedAt).includes('new'), 'the bundle holds the new CA before anything is signed by it');
    const clients = through('update-clients');
    assert.equal(servingCa(clients), 'old', 'update-clients does not switch the server yet');
  });

  it('the old CA leaves the bundle only when every leaf it may have signed has expired', () => {
    const r = through('standby');
    // Signing by "old" ended at update-clients (T0 + 2 min); replicas follow within 20 s; leaves live 1 h.
    const retireAt = T0 + 2 * MIN + 20_000 + HOUR;
    assert.equal(r.previous?.retireAt, retireAt);
    assert.deepEqual(bundleCas(r, retireAt - 1), ['new', 'old']);
    assert.deepEqual(bundleCas(r, retireAt), ['new']);
  });

  it('a rotation stepped late keeps the old CA until the step itself', () => {
    let r = stepRotation(initialRotation('old', T0), 'init', ctx(T0, 'new'));
    r = stepRotation(r, 'update-clients', ctx(T0));
    r = stepRotation(r, 'update-servers', ctx(T0));
    r = stepRotation(r, 'standby', ctx(T0 + 5 * HOUR));
    assert.equal(r.previous?.retireAt, T0 + 5 * HOUR);
  });

  describe('refuses what is not the next phase, saying which one is', () => {
    const cases: { from: RotationPhase | 'start'; to: RotationPhase; message: string }[] = [
      { from: 'start', to: 'update-clients', message: 'the CA rotation cannot go from phase "standby" to "update-clients": the next phase is "init"' },
      { from: 'start', to: 'update-servers', message: 'the CA rotation cannot go from phase "standby" to "update-servers": the next phase is "init"' },
      { from: 'start', to: 'standby', message: 'the CA rotation is already in phase "standby"; the next phase is "init"' },
      { from: 'init', to: 'update-servers', message: 'the CA rotation cannot go from phase "init" to "update-servers": the next phase is "update-clients"' },
      { from: 'init', to: 'standby', message: 'the CA rotation cannot go from phase "init" to "standby": the next phase is "update-clients"' },
      { from: 'init', to: 'init', message: 'the CA rotation is already in phase "init"; the next phase is "update-clients"' },
      { from: 'update-clients', to: 'standby', message: 'the CA rotation cannot go from phase "update-clients" to "standby": the next phase is "update-servers"' },
      { from: 'update-clients', to: 'init', message: 'the CA rotation cannot go from phase "update-clients" to "init": the next phase is "update-servers"' },
      { from: 'update-servers', to: 'init', message: 'the CA rotation cannot go from phase "update-servers" to "init": the next phase is "standby"' },
    ];
    for (const c of cases) {
      it(`from ${c.from} to ${c.to}`, () => {
        const r = c.from === 'start' ? initialRotation('old', T0) : through(c.from);
        rejects(() => stepRotation(r, c.to, ctx(T0 + HOUR, 'newer')), c.message);
      });
    }
  });

  it('refuses a new rotation while the last one\'s old CA is still in the bundle, and allows it after', () => {
    const done = through('standby');
    const retireAt = done.previous?.retireAt as number;
    rejects(() => stepRotation(done, 'init', ctx(retireAt - 1, 'newer')), `the CA replaced by the last rotation stays in the bundle until ${new Date(retireAt).toISOString()} (leaves it signed may live until then); start the next rotation after that, or use --manual`);
    const again = stepRotation(done, 'init', ctx(retireAt, 'newer'));
    assert.deepEqual(bundleCas(again, retireAt), ['new', 'newer']);
    assert.equal(again.previous, undefined);
  });

  it('init needs the new CA', () => {
    rejects(() => stepRotation(initialRotation('old', T0), 'init', ctx(T0)), 'phase "init" needs the new CA');
  });

  describe('--manual (a compromised key)', () => {
    it('switches signing and serving at once and drops the old CA after the grace, whatever it signed', () => {
      const r = manualRotation(initialRotation('old', T0), { now: T0, newCa: 'new', graceMs: 30_000 });
      assert.deepEqual([r.phase, r.mode, signingCa(r), servingCa(r)], ['standby', 'manual', 'new', 'new']);
      assert.deepEqual(bundleCas(r, T0 + 29_999), ['new', 'old']);
      assert.deepEqual(bundleCas(r, T0 + 30_000), ['new']);
    });

    it('also right after a phased rotation, replacing the CA that was still retiring', () => {
      const r = manualRotation(through('standby'), { now: T0 + HOUR, newCa: 'newer', graceMs: 0 });
      assert.deepEqual(bundleCas(r, T0 + HOUR), ['newer']);
      assert.equal(r.previous?.ca, 'new');
    });

    it('refuses during a phased rotation, naming the phase to step to', () => {
      rejects(() => manualRotation(through('update-clients'), { now: T0, newCa: 'x', graceMs: 0 }), 'a phased CA rotation is in progress (phase "update-clients"); step it to standby first (next phase: "update-servers")');
    });
  });

  describe('--auto (a schedule)', () => {
    it('starts with init and steps each later phase a third of the grace after the last change, ending at standby', () => {
      let r = scheduledRotation(initialRotation('old', T0), { ...ctx(T0, 'new'), graceMs: 3 * HOUR });
      assert.deepEqual([r.phase, bundleCas(r, T0)], ['init', ['old', 'new']]);
      const seen: (RotationPhase | undefined)[] = [];
      for (const phase of ['update-clients', 'update-servers', 'standby'] as const) {
        const at = nextStepAt(r) as number;
        assert.equal(at, r.changedAt + HOUR);
        assert.equal(dueStep(r, at - 1), undefined);
        seen.push(dueStep(r, at));
        r = stepRotation(r, phase, ctx(at));
      }
      assert.deepEqual(seen, ['update-clients', 'update-servers', 'standby']);
      assert.deepEqual([r.phase, r.schedule, nextStepAt(r)], ['standby', undefined, undefined]);
    });

    it('a rotation stepped by hand is never due', () => {
      assert.equal(dueStep(through('init'), T0 + 100 * HOUR), undefined);
    });
  });
});
