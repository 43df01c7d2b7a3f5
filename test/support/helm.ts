import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { k8sBinary } from './k8s-bin.ts';

/** The repository root and its charts. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CHART_ROOT = join(REPO_ROOT, 'chart');

/** A rendered Kubernetes object, as parsed from `helm template`. */
export type Manifest = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; [k: string]: any }; [k: string]: any };

/** A chart's values, as a plain object (written to a values file for helm). */
export type Values = Record<string, unknown>;

/** helm exited non-zero; `message` is helm's own error text without the "Error: " prefix and the --debug hint. */
export class HelmError extends Error {
  override name = 'HelmError';
  readonly args: readonly string[];
  readonly stderr: string;
  constructor(args: readonly string[], stderr: string) {
    super(
      stderr
        .replace(/^Error: /, '')
        .replace(/\n*Use --debug flag to render out invalid YAML\s*$/, '')
        .trimEnd(),
    );
    this.args = args;
    this.stderr = stderr;
  }
}

/** Path of a tool built by scripts/k8s-tools; throws (never skips) when it is missing. */
export function k8sTool(name: 'helm' | 'kubectl'): string {
  return k8sBinary(name);
}

/** Runs helm with `args`; resolves with stdout, rejects with HelmError on a non-zero exit. */
export function helm(args: readonly string[]): Promise<string> {
  const bin = k8sTool('helm');
  // A private helm home: no repositories, plugins or config of the machine leak into the run.
  const home = join(tmpdir(), 'kube-join-helm-home');
  const env = { ...process.env, HELM_CACHE_HOME: join(home, 'cache'), HELM_CONFIG_HOME: join(home, 'config'), HELM_DATA_HOME: join(home, 'data') };
  return new Promise((resolve, reject) => {
    execFile(bin, args, { env, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new HelmError(args, stderr || err.message));
      else resolve(stdout);
    });
  });
}

/** The chart's directory: `chart/<name>`. */
export function chartDir(name: string): string {
  return join(CHART_ROOT, name);
}

/** The values a chart is tested with: `chart/<name>/ci/seed-values.yaml` (the seed's example). */
export async function seedValues(name: string): Promise<Values> {
  return parse(await readFile(join(chartDir(name), 'ci', 'seed-values.yaml'), 'utf8')) as Values;
}

export interface RenderOptions {
  /** Release name (default: the chart's name, as the README installs it). */
  release?: string;
  /** Release namespace (default: "default"). */
  namespace?: string;
}

async function withValuesFile<T>(values: Values, use: (file: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'kube-join-values-'));
  try {
    const file = join(dir, 'values.yaml');
    await writeFile(file, stringify(values));
    return await use(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function parseManifests(text: string): Manifest[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`helm rendered invalid YAML: ${doc.errors[0]?.message}`);
      return doc.toJS() as Manifest | null;
    })
    .filter((m): m is Manifest => m !== null);
}

/**
 * `helm template` of `chart/<name>` with exactly `values` (over the chart's values.yaml), parsed into
 * objects. Rejects with HelmError (schema violations, `fail` messages) as helm words them.
 */
export async function renderChart(name: string, values: Values = {}, options: RenderOptions = {}): Promise<Manifest[]> {
  const release = options.release ?? name;
  return withValuesFile(values, async (file) => parseManifests(await helm(['template', release, chartDir(name), '--namespace', options.namespace ?? 'default', '--values', file])));
}

/** `helm lint --strict` of `chart/<name>` with `values`; resolves with helm's report. */
export async function lintChart(name: string, values: Values = {}): Promise<string> {
  return withValuesFile(values, (file) => helm(['lint', '--strict', chartDir(name), '--values', file]));
}

/**
 * The chart's NOTES.txt as `helm install` would print it. `helm template` does not render NOTES and
 * `helm install --dry-run` wants a cluster, so a copy of the chart renders it as a template.
 */
export async function renderNotes(name: string, values: Values = {}, options: RenderOptions = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kube-join-notes-'));
  try {
    const copy = join(dir, name);
    await cp(chartDir(name), copy, { recursive: true });
    await rename(join(copy, 'templates', 'NOTES.txt'), join(copy, 'notes.txt'));
    await writeFile(join(copy, 'templates', 'zz-notes.yaml'), '{"kind": "Notes", "text": {{ tpl (.Files.Get "notes.txt") . | toJson }}}\n');
    const text = await withValuesFile(values, (file) =>
      helm(['template', options.release ?? name, copy, '--namespace', options.namespace ?? 'default', '--values', file, '--show-only', 'templates/zz-notes.yaml']),
    );
    const [notes] = parseManifests(text);
    return (notes as unknown as { text: string }).text;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The one object of `kind` (and `name`, when given); throws when there is none or more than one. */
export function findOne(manifests: readonly Manifest[], kind: string, name?: string): Manifest {
  const found = manifests.filter((m) => m.kind === kind && (name === undefined || m.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` "${name}"` : ''}, found ${found.length} (rendered: ${manifests.map((m) => `${m.kind}/${m.metadata.name}`).join(', ')})`);
  return found[0] as Manifest;
}
