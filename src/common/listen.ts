import type { Server } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface Listening {
  /** The bound address (the port resolved when 0 was asked for). */
  address: { host: string; port: number };
  /** Stops accepting, drops open connections (keep-alive ones too) and resolves once closed. */
  close(): Promise<void>;
}

/** Listens on `host:port`, rejecting on a bind error (EADDRINUSE) instead of throwing it later. */
export async function listen(server: Server & { closeAllConnections?: () => void }, host: string, port: number): Promise<Listening> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
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
