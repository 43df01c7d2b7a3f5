import { z } from 'zod';
import { buildInjection, type InjectionDefaults } from './inject.ts';
import { InjectionDeniedError } from './errors.ts';
import type { Pod } from './pod.ts';

const ADMISSION_API = 'admission.k8s.io/v1';

/** The fields of an `admission.k8s.io/v1` AdmissionReview request the injector reads. */
export const AdmissionReviewSchema = z.looseObject({
  apiVersion: z.literal(ADMISSION_API),
  kind: z.literal('AdmissionReview'),
  request: z.looseObject({
    uid: z.string().min(1),
    kind: z.looseObject({ group: z.string(), version: z.string(), kind: z.string() }),
    operation: z.string(),
    namespace: z.string().optional(),
    name: z.string().optional(),
    object: z.looseObject({}).nullable().optional(),
  }),
});
export type AdmissionReview = z.infer<typeof AdmissionReviewSchema>;

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  /** Base64 of the JSON patch. */
  patch?: string;
  status?: { code: number; message: string };
  warnings?: string[];
}

/** What the webhook decided, for the log line. */
export type AdmissionOutcome =
  | { result: 'injected'; warnings: string[] }
  | { result: 'skipped'; reason: string }
  | { result: 'denied'; error: InjectionDeniedError };

export interface AdmissionAnswer {
  review: { apiVersion: typeof ADMISSION_API; kind: 'AdmissionReview'; response: AdmissionResponse };
  outcome: AdmissionOutcome;
}

/**
 * Answers one AdmissionReview: a Pod CREATE that asks for injection gets the JSONPatch; a pod with bad
 * annotations is denied (status 400, the message naming the annotation), as Vault's injector does: a pod
 * that asked for credentials and would start without them is better refused where the user looks.
 * Anything else is allowed unchanged.
 */
export function admit(review: AdmissionReview, defaults: InjectionDefaults): AdmissionAnswer {
  const { request } = review;
  const answer = (response: Omit<AdmissionResponse, 'uid'>, outcome: AdmissionOutcome): AdmissionAnswer => ({
    review: { apiVersion: ADMISSION_API, kind: 'AdmissionReview', response: { uid: request.uid, ...response } },
    outcome,
  });
  const isPod = request.kind.group === '' && request.kind.kind === 'Pod';
  if (!isPod || request.operation !== 'CREATE' || !request.object) {
    return answer({ allowed: true }, { result: 'skipped', reason: `not a Pod CREATE (${request.kind.kind} ${request.operation})` });
  }
  try {
    const result = buildInjection(request.object as Pod, defaults);
    if (result.kind === 'skip') return answer({ allowed: true }, { result: 'skipped', reason: result.reason });
    return answer(
      { allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(result.patch)).toString('base64'), ...(result.warnings.length > 0 ? { warnings: result.warnings } : {}) },
      { result: 'injected', warnings: result.warnings },
    );
  } catch (err) {
    if (!(err instanceof InjectionDeniedError)) throw err;
    return answer({ allowed: false, status: { code: 400, message: `kube-join injector: ${err.message}` } }, { result: 'denied', error: err });
  }
}
