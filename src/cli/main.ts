#!/usr/bin/env node
// The entry point sets up the process before any other module loads:
// - the command's V8 flags (runtime-flags.ts), by replacing this process with one that has them;
// - V8's compile cache: later starts read the compiled code of the CLI from the cache (in the OS temp
//   directory) instead of compiling it again (bench/RESULTS.md).
import { enableCompileCache } from 'node:module';
import { applyRuntimeFlags } from './runtime-flags.ts';

applyRuntimeFlags();
enableCompileCache();
await import('./program.ts');
