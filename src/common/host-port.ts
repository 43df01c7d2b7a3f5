/** `host:port`, an IPv6 host in brackets: the one way an address is written (URLs, auth.addr, logs). */
export function formatHostPort(host: string, port: number | string): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}
