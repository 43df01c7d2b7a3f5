import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const pkg = require('../../package.json') as { version: string };

/** This build's version, sent by the agent in every join request and printed by `--version`. */
export const AGENT_VERSION: string = pkg.version;
