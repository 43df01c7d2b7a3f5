import { readFile } from 'node:fs/promises';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Which bucket a frame's time goes to: an npm package, a part of kube-join, Node itself, or V8. */
export function categoryOf(url: string, functionName: string): string {
  if (url === '') {
    if (functionName === '(garbage collector)') return 'V8 GC';
    if (functionName === '(idle)') return 'idle (waiting: I/O, network, thread pool)';
    if (functionName === '(program)') return 'V8/native (compile, bootstrap)';
    return `native ${functionName}`;
  }
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    const pkg = rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] as string);
    return `npm ${pkg}`;
  }
  if (url.startsWith('node:')) return 'node: built-ins (loader, net, tls, fs)';
  const m = /\/(dist|src)\/([^/]+)\//.exec(url);
  if (m) return `kube-join ${m[2]}`;
  return 'other';
}

/** Self time per category in ms, from a .cpuprofile (V8 sampling profiler, --cpu-prof). */
export async function selfTimeByCategory(path: string): Promise<{ totalMs: number; byCategory: Map<string, number> }> {
  const profile = JSON.parse(await readFile(path, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const byCategory = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i] as number);
    const dt = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    if (!node) continue;
    const cat = categoryOf(node.callFrame.url, node.callFrame.functionName);
    byCategory.set(cat, (byCategory.get(cat) ?? 0) + dt);
  }
  return { totalMs: (profile.endTime - profile.startTime) / 1000, byCategory };
}

/** Self time per function (name, package or file, line) in ms, largest first. */
export async function selfTimeByFunction(path: string): Promise<{ name: string; ms: number }[]> {
  const profile = JSON.parse(await readFile(path, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const byName = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i] as number);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const name = `${functionName || '(anonymous)'} ${categoryOf(url, functionName)}${url ? `:${url.split('/').pop()}:${lineNumber + 1}` : ''}`;
    byName.set(name, (byName.get(name) ?? 0) + (profile.timeDeltas[i + 1] ?? 0) / 1000);
  }
  return [...byName].map(([name, ms]) => ({ name, ms })).sort((a, b) => b.ms - a.ms);
}
