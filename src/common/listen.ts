import type { Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { KubeJoinError } from './errors.ts';

export interface Listening {
  /** The bound address (the port resolved when 0 was asked for). */
  address: { host: string; port: number };
  /** Stops accepting, drops open connections (keep-alive ones too) and resolves once closed. */
  close(): Promise<void>;
}

/** What a bind errno means, in words for a one-line message. */
const LISTEN_PROBLEMS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'is already in use',
  EACCES: 'is a privileged port this process may not bind',
  EADDRNOTAVAIL: 'is not an address of this host',
  ENOTFOUND: 'names a host that does not resolve',
  EAI_AGAIN: 'names a host that does not resolve',
};

/**
 * A server cannot listen where it was told to: `--listen 127.0.0.1:3025 is already in use
 * (EADDRINUSE)`. `option` is the flag that gave the address, once the command has named it
 * (nameListenError); until then the message says "address".
 */
export class ListenError extends KubeJoinError<'ERR_LISTEN'> {
  readonly host: string;
  readonly port: number;
  readonly errno: string;
  readonly option: string | undefined;
  constructor(at: { host: string; port: number }, errno: string, options: { option?: string; cause?: unknown } = {}) {
    const where = `${at.host.includes(':') ? `[${at.host}]` : at.host}:${at.port}`;
    super('ERR_LISTEN', `${options.option ?? 'address'} ${where} ${LISTEN_PROBLEMS[errno] ?? 'cannot be listened on'} (${errno})`, { cause: options.cause });
    this.host = at.host;
    this.port = at.port;
    this.errno = errno;
    this.option = options.option;
  }
}

/**
 * `err` named after the flag whose address it is about, when it is a ListenError for one of
 * `addresses` (keyed by flag); anything else unchanged. The servers only know the address; the
 * command knows which flag gave it.
 */
export function nameListenError(err: unknown, addresses: Readonly<Record<string, { host: string; port: number } | undefined>>): unknown {
  if (!(err instanceof ListenError)) return err;
  const option = Object.keys(addresses).find((flag) => addresses[flag]?.host === err.host && addresses[flag]?.port === err.port);
  return option === undefined ? err : new ListenError(err, err.errno, { option, cause: err.cause });
}

/** Listens on `host:port`; a bind error (EADDRINUSE, EACCES, ...) rejects as a ListenError instead of being thrown later. */
export async function listen(server: Server & { closeAllConnections?: () => void }, host: string, port: number): Promise<Listening> {
  await new Promise<void>((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException) => reject(new ListenError({ host, port }, err.code ?? err.message, { cause: err }));
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  return {
    address: { host: bound.address, port: bound.port },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  };
}
