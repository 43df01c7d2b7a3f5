import { createServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorLogFields } from '../common/errors.ts';
import { readLimitedBody } from '../common/http-body.ts';
import { listen, type Listening } from '../common/listen.ts';
import type { Logger } from '../common/logger.ts';
import { admit, AdmissionReviewSchema } from './admission.ts';
import type { InjectionDefaults } from './inject.ts';

/** The path the MutatingWebhookConfiguration calls. */
export const MUTATE_PATH = '/mutate';

/** The apiserver sends at most its request limit (3 MiB) plus the review's envelope. */
const MAX_REVIEW_BYTES = 4 * 1024 * 1024;

export interface InjectorServerOptions {
  host: string;
  port: number;
  tls: { certPem: string; keyPem: string };
  defaults: InjectionDefaults;
  logger: Logger;
  /** Whether the webhook can be called: its caBundle is in place. /readyz answers 503 with the reason until then. */
  ready: () => { ready: boolean; reason?: string };
}

/** A request that is not an AdmissionReview the injector can read: answered with `status`, not a review. */
class BadReview extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readReview(req: IncomingMessage) {
  if (!String(req.headers['content-type'] ?? '').toLowerCase().startsWith('application/json')) throw new BadReview(415, 'an AdmissionReview must be application/json');
  const body = await readLimitedBody(req, MAX_REVIEW_BYTES, () => new BadReview(413, `request body is larger than ${MAX_REVIEW_BYTES} bytes`));
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new BadReview(400, 'request body is not valid JSON');
  }
  const parsed = AdmissionReviewSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new BadReview(400, `not an admission.k8s.io/v1 AdmissionReview: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

/**
 * The webhook's HTTPS server: `POST /mutate` answers AdmissionReviews, `GET /healthz` says the process
 * is up, `GET /readyz` whether the webhook's caBundle is in place.
 */
export interface InjectorServer extends Listening {
  /** Serves `tls` from the next connection on (a renewed certificate). */
  setTls(tls: { certPem: string; keyPem: string }): void;
}

export async function startInjectorServer(options: InjectorServerOptions): Promise<InjectorServer> {
  const { logger, defaults } = options;
  const server = createServer({ cert: options.tls.certPem, key: options.tls.keyPem, minVersion: 'TLSv1.2' }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz' && req.method === 'GET') return json(res, 200, { status: 'ok' });
    if (path === '/readyz' && req.method === 'GET') {
      const state = options.ready();
      return json(res, state.ready ? 200 : 503, state);
    }
    if (path !== MUTATE_PATH) return json(res, 404, { error: 'not found' });
    if (req.method !== 'POST') return json(res, 405, { error: `${MUTATE_PATH} takes POST` });
    readReview(req).then(
      (review) => {
        const { review: response, outcome } = admit(review, defaults);
        const pod = { namespace: review.request.namespace, pod: review.request.name ?? (review.request.object as { metadata?: { generateName?: string } } | null)?.metadata?.generateName, uid: review.request.uid };
        if (outcome.result === 'injected') logger.info('pod injected', { ...pod, ...(outcome.warnings.length > 0 ? { warnings: outcome.warnings } : {}) });
        else if (outcome.result === 'denied') logger.warn('pod denied', { ...pod, ...errorLogFields(outcome.error) });
        else logger.debug('pod skipped', { ...pod, reason: outcome.reason });
        json(res, 200, response);
      },
      (err: unknown) => {
        if (err instanceof BadReview) {
          logger.warn('bad admission request', { status: err.status, error: err.message });
          return json(res, err.status, { error: err.message });
        }
        logger.error('admission failed', errorLogFields(err));
        json(res, 500, { error: 'internal error' });
      },
    );
  });
  const listening = await listen(server, options.host, options.port);
  return { ...listening, setTls: (tls) => server.setSecureContext({ cert: tls.certPem, key: tls.keyPem, minVersion: 'TLSv1.2' }) };
}
