import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PROBLEM_CODES, PROBLEM_CONTENT_TYPE, type ProblemCode } from '../../src/protocol/index.ts';

/** Cases each property tries at the least; fewer within the time budget fails the test instead of passing quietly. */
export const FUZZ_RUNS = 1000;

/**
 * fast-check parameters for a property: `numRuns` cases with a fresh random seed each run (printed with
 * the counterexample on failure), stopped after `budgetMs` (a failure if not all cases ran by then), and
 * for async properties each case bounded by `caseMs`.
 */
export function fuzzParameters<T>(options: { numRuns?: number; budgetMs: number; caseMs?: number; examples?: T[] }): fc.Parameters<T> {
  return {
    numRuns: options.numRuns ?? FUZZ_RUNS,
    plugins: [fc.interruptAfterTimeLimit(options.budgetMs, { failOnInterrupt: true }), ...(options.caseMs !== undefined ? [fc.timeout(options.caseMs)] : [])],
    ...(options.examples ? { examples: options.examples } : {}),
  };
}

/** Flips the given bit positions (0 = most significant bit of byte 0) of a copy of `bytes`. */
export function flipBits(bytes: Uint8Array, bits: readonly number[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(bytes);
  for (const bit of bits) out[bit >> 3] = (out[bit >> 3] as number) ^ (0x80 >> (bit & 7));
  return out;
}

/** 1 to `max` distinct bit positions inside `byteLength` bytes. */
export function bitPositions(byteLength: number, max = 8): fc.Arbitrary<number[]> {
  return fc.uniqueArray(fc.integer({ min: 0, max: byteLength * 8 - 1 }), { minLength: 1, maxLength: max });
}

/** An HTTP answer as the property tests see it. */
export interface Answer {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * Asserts a refusal is a 4xx RFC 9457 problem with one of the protocol's codes (and the same status in
 * the body as on the wire); returns the code. `context` goes into every assertion message.
 */
export function assertProblem(answer: Answer, context: string): ProblemCode {
  assert.ok(answer.statusCode >= 400 && answer.statusCode < 500, `expected a 4xx, got ${answer.statusCode} ${answer.body} for ${context}`);
  assert.equal(answer.headers['content-type'], PROBLEM_CONTENT_TYPE, `content type of ${answer.statusCode} ${answer.body} for ${context}`);
  const problem = JSON.parse(answer.body) as { code: unknown; status: unknown };
  assert.ok((PROBLEM_CODES as readonly unknown[]).includes(problem.code), `unknown code in ${answer.body} for ${context}`);
  assert.equal(problem.status, answer.statusCode, `status in ${answer.body} for ${context}`);
  return problem.code as ProblemCode;
}
