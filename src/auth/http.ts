import type { IncomingMessage, ServerResponse } from 'node:http';
import { PROBLEM_CONTENT_TYPE, type Problem } from '../protocol/index.ts';
import { ProblemError } from './errors.ts';
import { readLimitedBody } from '../common/http-body.ts';

const TITLES: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 409: 'Conflict', 413: 'Content Too Large', 415: 'Unsupported Media Type', 429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable' };

/** Answers with RFC 9457 problem details carrying the error's stable code (and Retry-After if set). */
export function sendProblem(res: ServerResponse, err: ProblemError): void {
  const body: Problem = { type: `https://kube-join.dev/problems/${err.code}`, title: TITLES[err.status] ?? 'Error', status: err.status, detail: err.message, code: err.code };
  const headers: Record<string, string> = { 'content-type': PROBLEM_CONTENT_TYPE };
  if (err.retryAfterSeconds !== undefined) headers['retry-after'] = String(err.retryAfterSeconds);
  res.writeHead(err.status, headers);
  res.end(JSON.stringify(body));
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** Reads a body up to `limit` bytes; a larger one is refused (413) without reading the rest. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return readLimitedBody(req, limit, () => new ProblemError('bad_request', 413, `request body is larger than ${limit} bytes`));
}
