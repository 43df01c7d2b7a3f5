// Cold-start prototype only (bench/cuts.ts aliases 'got' to this file in an esbuild bundle): the subset
// of got that src/agent/join-client.ts uses, on node:https. It shows what the agent's join client costs
// to load without got; it is not product code.
import { createRequire } from 'node:module';

// require(), not an ESM import: the ESM facade of node:http(s) evaluates lazy getters (undici). Loaded
// on first use, so that the module can also be part of a V8 startup snapshot.
const require = createRequire(import.meta.url);
let httpsModule;
const https = () => (httpsModule ??= require('node:https'));

export class RequestError extends Error {
  constructor(message, code, cause) {
    super(message, { cause });
    this.code = code;
  }
}

function send(url, options, method) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const body = options.json === undefined ? undefined : Buffer.from(JSON.stringify(options.json));
    const tls = options.https ?? {};
    const req = https().request({
      host: u.hostname.replace(/^\[|\]$/g, ''),
      port: u.port,
      path: u.pathname + u.search,
      method,
      ca: tls.certificateAuthority,
      rejectUnauthorized: tls.rejectUnauthorized !== false,
      signal: options.signal,
      headers: body ? { 'content-type': 'application/json', 'content-length': body.length } : {},
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ statusCode: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (e) => reject(new RequestError(e.message, e.code, e)));
    });
    const ms = options.timeout?.request;
    if (ms) req.setTimeout(ms, () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (e) => reject(new RequestError(e.message, e.code, e)));
    req.end(body);
  });
}

function got(url, options = {}) {
  const p = send(url, options, 'GET');
  return Object.assign(p, { text: () => p.then((r) => r.body) });
}
got.post = (url, options = {}) => send(url, options, 'POST');
export default got;
