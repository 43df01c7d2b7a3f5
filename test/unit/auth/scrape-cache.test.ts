import assert from 'node:assert/strict';
import sinon from 'sinon';
import { createScrapeCache, type ScrapeCacheOptions } from '../../../src/auth/scrape-cache.ts';

describe('scrape cache: storage read at most once per period, never failing a scrape (fake timers)', () => {
  let clock: sinon.SinonFakeTimers;
  let errors: { message: string; first: boolean }[];
  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: Date.parse('2026-12-01T20:00:00.000Z'), toFake: ['Date', 'setTimeout', 'clearTimeout'] });
    errors = [];
  });
  afterEach(() => clock.restore());

  const cache = <T>(read: () => Promise<T>, extra: Partial<ScrapeCacheOptions<T>> = {}) =>
    createScrapeCache({ read, maxAgeMs: 5000, waitMs: 2000, now: () => Date.now(), onError: (err, first) => errors.push({ message: (err as Error).message, first }), ...extra });

  it('one read serves every scrape for maxAgeMs; the first scrape after that reads again', async () => {
    let reads = 0;
    const c = cache(async () => ++reads);
    assert.equal(await c.get(), 1);
    assert.equal(await c.get(), 1);
    clock.tick(4999);
    assert.equal(await c.get(), 1);
    clock.tick(1);
    assert.equal(await c.get(), 2);
    assert.equal(reads, 2);
  });

  it('concurrent scrapes share one read', async () => {
    let reads = 0;
    let release: (v: number) => void = () => undefined;
    const c = cache(() => {
      reads++;
      return new Promise<number>((resolve) => (release = resolve));
    });
    const scrapes = [c.get(), c.get(), c.get()];
    await Promise.resolve();
    release(7);
    assert.deepEqual(await Promise.all(scrapes), [7, 7, 7]);
    assert.equal(reads, 1);
  });

  it('a failed read keeps the last value, reports first: true once per streak, and is retried once per period, not per scrape', async () => {
    let fail = false;
    let reads = 0;
    const c = cache(async () => {
      reads++;
      if (fail) throw new Error(`storage down (${reads})`);
      return reads;
    });
    assert.equal(await c.get(), 1);
    fail = true;
    clock.tick(5000);
    assert.equal(await c.get(), 1);
    assert.equal(await c.get(), 1);
    clock.tick(5000);
    assert.equal(await c.get(), 1);
    assert.equal(reads, 3);
    fail = false;
    clock.tick(5000);
    assert.equal(await c.get(), 4);
    fail = true;
    clock.tick(5000);
    assert.equal(await c.get(), 4);
    assert.deepEqual(errors, [
      { message: 'storage down (2)', first: true },
      { message: 'storage down (3)', first: false },
      { message: 'storage down (5)', first: true },
    ]);
  });

  it('before any read succeeded there is no value (undefined), and a read that throws synchronously is a failed read', async () => {
    const c = cache<number>(() => {
      throw new Error('not even a promise');
    });
    assert.equal(await c.get(), undefined);
    assert.deepEqual(errors, [{ message: 'not even a promise', first: true }]);
  });

  it('a read slower than waitMs does not hold the scrape: it answers with the last value, and the read lands later', async () => {
    let reads = 0;
    let release: (v: number) => void = () => undefined;
    const c = cache(() => {
      reads++;
      return reads === 1 ? Promise.resolve(1) : new Promise<number>((resolve) => (release = resolve));
    });
    assert.equal(await c.get(), 1);
    clock.tick(5000);
    const slow = c.get();
    await clock.tickAsync(2000);
    assert.equal(await slow, 1);
    release(2);
    await Promise.resolve();
    await Promise.resolve();
    assert.equal(await c.get(), 2, 'the late read is the cached value now');
    assert.equal(reads, 2);
  });
});
