// The CLI's paths that need YAML only sometimes (--config, --format yaml, the demo) `await import()`
// this module rather than the package: `yaml` is CommonJS under Node, and in the code-split bundle a
// dynamic import of CommonJS yields only a default export, while a static import keeps the names.
export { parse, parseDocument, stringify } from 'yaml';
