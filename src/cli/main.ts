#!/usr/bin/env node
// The entry point only turns on V8's compile cache, before any other module loads: later starts read
// the compiled code of the CLI and its libraries from the cache (in the OS temp directory) instead of
// parsing ~1,000 files again, about 150 ms of `agent --once` (bench/RESULTS.md).
import { enableCompileCache } from 'node:module';

enableCompileCache();
await import('./program.ts');
