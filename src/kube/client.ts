import { Agent as HttpsAgent } from 'node:https';
import got, { RequestError, type Response } from 'got';
import type { KubeConnection } from './config.ts';
import { KubeApiError, KubeUnreachableError } from './errors.ts';

/** `status` of an `authentication.k8s.io/v1` TokenReview. */
export interface TokenReviewStatus {
  authenticated?: boolean;
  user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
  audiences?: string[];
  error?: string;
}

export interface KubeRequestOptions {
  /** JSON body (POST, PUT, PATCH). */
  body?: unknown;
  /** Query string parameters. */
  query?: Record<string, string>;
  /** Overrides the client's timeout for this request. */
  timeoutMs?: number;
  contentType?: string;
}

/** A deliberately small Kubernetes API client: JSON over HTTPS, one request = one call, no retries. */
export interface KubeClient {
  readonly server: string;
  readonly source: string;
  /**
   * One API call. Resolves with the parsed JSON body of a 2xx answer; throws KubeApiError for any
   * other status and KubeUnreachableError when no answer came (connection, TLS, timeout).
   */
  request<T = unknown>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, options?: KubeRequestOptions): Promise<T>;
  /** Creates a TokenReview for `token` with `spec.audiences = audiences` and returns its status. */
  tokenReview(token: string, audiences: readonly string[]): Promise<TokenReviewStatus>;
  /** Closes idle keep-alive connections. */
  close(): void;
}

function statusOf(body: string): { reason: string | undefined; message: string | undefined } {
  try {
    const parsed = JSON.parse(body) as { kind?: unknown; reason?: unknown; message?: unknown };
    if (parsed && parsed.kind === 'Status') {
      return {
        reason: typeof parsed.reason === 'string' ? parsed.reason : undefined,
        message: typeof parsed.message === 'string' ? parsed.message.slice(0, 1000) : undefined,
      };
    }
  } catch {
    // not JSON: fall through
  }
  return { reason: undefined, message: undefined };
}

/** `timeoutMs` bounds each request, connect to last byte (the auth service's --kube-timeout). */
export function createKubeClient(connection: KubeConnection, options: { timeoutMs: number }): KubeClient {
  const { timeoutMs } = options;
  // One keep-alive pool per client: a TokenReview per join should not pay a TLS handshake each time.
  const agent = new HttpsAgent({ keepAlive: true, maxSockets: 16, maxFreeSockets: 4 });
  const https = {
    rejectUnauthorized: !connection.insecureSkipTlsVerify,
    ...(connection.caPem !== undefined ? { certificateAuthority: connection.caPem } : {}),
    ...(connection.clientCertPem !== undefined ? { certificate: connection.clientCertPem, key: connection.clientKeyPem } : {}),
    ...(connection.tlsServerName !== undefined ? { serverName: connection.tlsServerName } : {}),
  };

  async function request<T>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, opts: KubeRequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    const token = connection.bearerToken ? await connection.bearerToken() : undefined;
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    if (opts.body !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
    const url = new URL(path, connection.server + '/');
    for (const [k, v] of Object.entries(opts.query ?? {})) url.searchParams.set(k, v);
    let response: Response<string>;
    try {
      response = await got(url, {
        method,
        headers,
        ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
        https,
        agent: { https: agent },
        timeout: { request: opts.timeoutMs ?? timeoutMs },
        retry: { limit: 0 },
        throwHttpErrors: false,
        followRedirect: false,
      });
    } catch (err) {
      const code = err instanceof RequestError ? err.code : undefined;
      const what = code === 'ETIMEDOUT' ? `timed out after ${opts.timeoutMs ?? timeoutMs} ms` : `failed (${code ?? (err as Error).message})`;
      throw new KubeUnreachableError(`Kubernetes API ${connection.server} (${connection.source}): ${method} ${url.pathname} ${what}`, code, err);
    }
    if (response.statusCode < 200 || response.statusCode > 299) {
      const { reason, message } = statusOf(response.body);
      throw new KubeApiError(method, url.pathname, response.statusCode, reason, message);
    }
    if (response.body === '') return undefined as T;
    try {
      return JSON.parse(response.body) as T;
    } catch {
      throw new KubeApiError(method, url.pathname, response.statusCode, 'InvalidResponse', `body is not JSON (${String(response.headers['content-type'] ?? 'no content type')})`);
    }
  }

  return {
    server: connection.server,
    source: connection.source,
    request,
    async tokenReview(token, audiences) {
      const review = await request<{ status?: TokenReviewStatus }>('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: [...audiences] } },
      });
      return review?.status ?? {};
    },
    close() {
      agent.destroy();
    },
  };
}
