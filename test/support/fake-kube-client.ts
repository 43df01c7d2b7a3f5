import type { KubeClient, KubeRequestOptions } from '../../src/kube/index.ts';

export type FakeCall = { method: string; path: string; options: KubeRequestOptions | undefined };

/** A KubeClient whose every request is answered by `answer`, and recorded in `calls`. */
export function fakeKubeClient(answer: (call: FakeCall) => Promise<unknown>): KubeClient & { calls: FakeCall[] } {
  const calls: FakeCall[] = [];
  return {
    server: 'https://kube.test:6443',
    source: 'test',
    calls,
    request: <T>(method: string, path: string, options?: KubeRequestOptions) => {
      const call = { method, path, options };
      calls.push(call);
      return answer(call) as Promise<T>;
    },
    tokenReview: () => Promise.reject(new Error('not used')),
    close: () => undefined,
  };
}
