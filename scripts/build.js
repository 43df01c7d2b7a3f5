#!/usr/bin/env node
// `npm run build`: the CLI as shipped, bundled by esbuild into dist/cli/ with its dependencies, so that
// a start reads a few files instead of resolving and compiling ~1,000 (bench/RESULTS.md). tsc only
// type-checks (`tsc -p tsconfig.json` runs first, in package.json). `node scripts/build.js --analyze`
// also prints what each output file holds, input by input.
//
// - ESM with code splitting: what `await import()` loads (a subcommand's action with its libraries, the
//   auth service, the YAML parser) is a chunk of its own, read only by the command that needs it
//   (test/unit/cli/lazy-loading.test.ts holds the boundaries). The chunks sit
//   beside main.js, so the paths the sources resolve from import.meta.url (../../examples, ./main.js)
//   hold in the bundle as in dist/ before.
// - The sources load a CommonJS dependency lazily with `createRequire(import.meta.url)` (winston, the
//   package's version). A bundler cannot see through that binding, so this build drops it: the plain
//   `require('x')` left behind is one esbuild bundles and still evaluates only on the call.
// - Not minified: a stack trace names the real functions at readable lines of the bundle. The source
//   maps beside each file map them to src/ under NODE_OPTIONS=--enable-source-maps. They are not on by
//   default, because Node then reads and parses every map at load (+17 MB RSS for the agent).
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { readFile, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const LAZY_REQUIRE = /^const require = createRequire\(import\.meta\.url\);$/m;

/** @type {import('esbuild').Plugin} */
const bundleLazyRequires = {
  name: 'bundle-lazy-requires',
  setup(b) {
    b.onLoad({ filter: /[\\/]src[\\/].*\.ts$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      return { contents: text.replace(LAZY_REQUIRE, ''), loader: 'ts' };
    });
  },
};

/**
 * zod's `z.locales` namespace pulls the error messages of 60-odd languages into the bundle; kube-join
 * words its own errors and zod uses English (`en`) by default. Only `en` is kept: 2 MB less RSS and
 * about 20 ms less start-up (bench/RESULTS.md).
 */
/** @type {import('esbuild').Plugin} */
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(b) {
    b.onResolve({ filter: /\/locales\/index\.js$/ }, (args) =>
      /[\\/]node_modules[\\/]zod[\\/]/.test(args.importer) ? { path: join(dirname(args.importer), args.path), namespace: 'zod-locales' } : undefined);
    b.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => ({ contents: "export { default as en } from './en.js';", resolveDir: dirname(args.path), loader: 'js' }));
  },
};

await rm(`${root}/dist`, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: { main: 'src/cli/main.ts' },
  outdir: 'dist/cli',
  chunkNames: '[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node22.12',
  sourcemap: 'linked',
  legalComments: 'linked',
  // The bundled CommonJS dependencies require Node's built-ins (util, fs, ...); an ES module has no
  // `require` of its own, so every file gets one.
  banner: { js: "import { createRequire as __kjCreateRequire } from 'node:module'; const require = __kjCreateRequire(import.meta.url);" },
  plugins: [bundleLazyRequires, zodEnglishOnly],
  metafile: true,
  logLevel: 'warning',
});
if (process.argv.includes('--analyze')) {
  const { analyzeMetafile } = await import('esbuild');
  process.stdout.write(await analyzeMetafile(result.metafile, { verbose: false }));
}
