import { KubeApiError, type KubeClient } from '../kube/index.ts';
import { InjectorCaError } from './errors.ts';
import type { InjectorCa } from './tls.ts';

const CERT_KEY = 'ca.crt';
const KEY_KEY = 'ca.key';

interface SecretObject {
  data?: Record<string, string>;
}

function caOf(secret: SecretObject, where: string): InjectorCa {
  const cert = secret.data?.[CERT_KEY];
  const key = secret.data?.[KEY_KEY];
  if (cert === undefined || key === undefined) throw new InjectorCaError(`Secret ${where} has no ${CERT_KEY} and ${KEY_KEY}: it is not the injector's CA; delete it or name another with --tls-secret`);
  return { certPem: Buffer.from(cert, 'base64').toString('utf8'), keyPem: Buffer.from(key, 'base64').toString('utf8') };
}

/**
 * The CA every replica of the injector signs its serving certificate with, so that they all agree on
 * one caBundle: read from the Secret `namespace/name`, or made by `create` and stored there by the
 * first replica. Two replicas starting at once both try to create it; the one that loses (409) reads
 * the winner's. Throws InjectorCaError naming the Secret; the CA key never appears in a message.
 */
export async function loadOrCreateSharedCa(client: KubeClient, namespace: string, name: string, create: () => Promise<InjectorCa>): Promise<InjectorCa> {
  const where = `${namespace}/${name}`;
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`;
  const read = () => client.request<SecretObject>('GET', `${path}/${encodeURIComponent(name)}`);
  const fail = (err: unknown) => new InjectorCaError(`cannot read or create the injector CA in Secret ${where}: ${(err as Error).message}`, err);
  try {
    return caOf(await read(), where);
  } catch (err) {
    if (!(err instanceof KubeApiError && err.status === 404)) throw err instanceof InjectorCaError ? err : fail(err);
  }
  const ca = await create();
  try {
    await client.request('POST', path, {
      body: { apiVersion: 'v1', kind: 'Secret', metadata: { name, labels: { 'app.kubernetes.io/component': 'injector' } }, type: 'Opaque', data: { [CERT_KEY]: Buffer.from(ca.certPem).toString('base64'), [KEY_KEY]: Buffer.from(ca.keyPem).toString('base64') } },
    });
    return ca;
  } catch (err) {
    if (!(err instanceof KubeApiError && err.status === 409)) throw fail(err);
  }
  try {
    return caOf(await read(), where);
  } catch (err) {
    throw err instanceof InjectorCaError ? err : fail(err);
  }
}
