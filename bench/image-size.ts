/**
 * The size of what the image adds to the Node base image, without a Docker engine: reads the runtime
 * stage's COPY instructions as BuildKit parses them (scripts/lint-dockerfile --json), assembles each
 * layer in a temp dir from dist/ (the build stage's output, `npm run build` first) and the build
 * context, and measures it as a tar and as a gzip'd tar (what a registry stores and a node pulls).
 * For comparison, the layer the image shipped before the bundle: the lock's production packages
 * (`npm ci --omit=dev`) beside the same dist/.
 *
 *   node bench/image-size.ts
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { REPO } from './lib/proc.ts';
import { fmt } from './lib/stats.ts';

interface Command { name: string; from?: string; sources?: string[]; dest?: string; value?: string }
interface Stage { name: string; commands: Command[] }

const lint = JSON.parse(execFileSync(join(REPO, 'scripts', 'lint-dockerfile'), ['--json'], { encoding: 'utf8' })) as { stages: Stage[] };
const runtime = lint.stages.at(-1) as Stage;
const build = lint.stages.find((s) => s.name === 'build') as Stage;
const workdirOf = (s: Stage) => s.commands.filter((c) => c.name === 'WORKDIR').at(-1)?.value ?? '/';
const MB = 1024 * 1024;

/** Bytes of a directory as an uncompressed tar and as a gzip'd tar, and its file count. */
function measure(dir: string): { tar: number; gz: number; files: number } {
  const tar = Number(execFileSync('bash', ['-c', 'tar -C "$1" -cf - . | wc -c', '-', dir], { encoding: 'utf8' }).trim());
  const gz = Number(execFileSync('bash', ['-c', 'tar -C "$1" -cf - . | gzip -6 | wc -c', '-', dir], { encoding: 'utf8' }).trim());
  const files = Number(execFileSync('bash', ['-c', 'find "$1" -type f | wc -l', '-', dir], { encoding: 'utf8' }).trim());
  return { tar, gz, files };
}

if (!existsSync(join(REPO, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run "npm run build" first');
const root = await mkdtemp(join(tmpdir(), 'kube-join-layers-'));
try {
  const rows: { layer: string; tar: number; gz: number; files: number }[] = [];
  const workdir = workdirOf(runtime);
  for (const [i, c] of runtime.commands.entries()) {
    if (c.name !== 'COPY') continue;
    const layer = join(root, `layer-${i}`);
    for (const src of c.sources ?? []) {
      const from = c.from === 'build' ? join(REPO, posix.relative(workdirOf(build), src)) : join(REPO, src);
      const dest = posix.resolve(workdir, c.dest as string);
      await mkdir(join(layer, dest), { recursive: true });
      await cp(from, join(layer, dest), { recursive: true });
    }
    rows.push({ layer: `COPY ${c.from ? `--from=${c.from} ` : ''}${(c.sources ?? []).join(' ')} ${c.dest}`, ...measure(layer) });
  }
  const total = rows.reduce((a, r) => ({ tar: a.tar + r.tar, gz: a.gz + r.gz, files: a.files + r.files }), { tar: 0, gz: 0, files: 0 });

  // Before the bundle: the lock's production packages, as `npm ci --omit=dev` installed them.
  const prod = join(root, 'before', 'app');
  const lock = JSON.parse(await readFile(join(REPO, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; devOptional?: boolean }> };
  for (const [path, meta] of Object.entries(lock.packages)) {
    if (path === '' || meta.dev || meta.devOptional || !existsSync(join(REPO, path))) continue;
    await cp(join(REPO, path), join(prod, path), { recursive: true, filter: (s) => !s.slice(join(REPO, path).length).includes('/node_modules') });
  }
  const before = measure(prod);

  console.log('| runtime layer (added to the Node base image) | files | tar MB | gzip MB |\n|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.layer} | ${r.files} | ${fmt(r.tar / MB, 2)} | ${fmt(r.gz / MB, 2)} |`);
  console.log(`| **total now** | ${total.files} | ${fmt(total.tar / MB, 2)} | ${fmt(total.gz / MB, 2)} |`);
  console.log(`| before the bundle: production node_modules (npm ci --omit=dev), besides dist/ | ${before.files} | ${fmt(before.tar / MB, 2)} | ${fmt(before.gz / MB, 2)} |`);
} finally {
  await rm(root, { recursive: true, force: true });
}
