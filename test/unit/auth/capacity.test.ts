import assert from 'node:assert/strict';
import { JOIN_CPU_PER_LEAF_CPU, measureJoinCapacity } from '../../../src/auth/capacity.ts';

describe('measureJoinCapacity', () => {
  it('times real leaf issues and scales them to a whole join', async () => {
    const { leafCpuMs, joinsPerSecond } = await measureJoinCapacity(8);
    assert.ok(leafCpuMs > 0 && leafCpuMs < 1000, `leaf CPU ${leafCpuMs} ms`);
    assert.equal(joinsPerSecond, 1000 / (leafCpuMs * JOIN_CPU_PER_LEAF_CPU));
  });
});
