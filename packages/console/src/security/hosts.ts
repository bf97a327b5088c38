// Which `Host` headers the console answers: the address it is bound to, `localhost` on loopback,
// and names the operator configured. Anything else is a DNS-rebinding page or a misrouted request.

import { isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';

/**
 * Whether `address` (an IP address as `server.address()` reports it) reaches only this machine:
 * 127.0.0.0/8, `::1`, or an IPv4-mapped loopback address.
 *
 * @example
 * isLoopbackAddress('127.0.0.1');   // true
 * isLoopbackAddress('0.0.0.0');     // false: every interface
 */
export function isLoopbackAddress(address: string): boolean {
  const plain = address.toLowerCase().replace(/^::ffff:/, '');
  return plain === '::1' || (isIP(plain) === 4 && plain.startsWith('127.'));
}

/** Whether `address` is "every interface" (`0.0.0.0`, `::`). */
export function isWildcardAddress(address: string): boolean {
  return address === '0.0.0.0' || address === '::' || address === '::ffff:0.0.0.0';
}

/** `address:port` as it appears in a `Host` header: IPv6 in brackets, names lower-cased. */
export function hostHeaderOf(address: string, port: number): string {
  return `${isIP(address) === 6 ? `[${address}]` : address.toLowerCase()}:${port}`;
}

/**
 * The `Host` header values a console answers: the bound address with its port; `localhost:<port>`
 * when bound to loopback; every interface address, `localhost` and the machine's name when bound
 * to all interfaces; the name it was asked to listen on; and each of `extraHosts` (`name` matches
 * with no port — behind a proxy on 443 — or with the console's port; `name:port` exactly).
 *
 * @example
 * allowedHostsFor({ boundAddress: '127.0.0.1', requestedHost: '127.0.0.1', port: 4000, extraHosts: ['console.internal'] });
 * // Set { '127.0.0.1:4000', 'localhost:4000', 'console.internal', 'console.internal:4000' }
 */
export function allowedHostsFor(options: {
  readonly boundAddress: string;
  readonly requestedHost: string;
  readonly port: number;
  readonly extraHosts: readonly string[];
}): ReadonlySet<string> {
  const { boundAddress, requestedHost, port } = options;
  const hosts = new Set<string>([hostHeaderOf(boundAddress, port)]);
  if (isIP(requestedHost) === 0) hosts.add(hostHeaderOf(requestedHost, port));
  if (isLoopbackAddress(boundAddress)) hosts.add(`localhost:${port}`);
  if (isWildcardAddress(boundAddress)) {
    hosts.add(`localhost:${port}`);
    hosts.add(hostHeaderOf(hostname(), port));
    for (const address of interfaceAddresses()) hosts.add(hostHeaderOf(address, port));
  }
  for (const extra of options.extraHosts) {
    const name = extra.toLowerCase();
    hosts.add(name);
    if (!/:\d+$/.test(name) || name.endsWith(']')) hosts.add(`${name}:${port}`);
  }
  return hosts;
}

/** Every address of this machine's interfaces (IPv6 link-local ones without their zone). */
export function interfaceAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((entries) => (entries ?? []).map((entry) => entry.address.replace(/%.*$/, '')));
}

/** The first non-internal IPv4 address of this machine, for a URL to show when bound to every interface. */
export function firstExternalIPv4(): string | undefined {
  for (const entries of Object.values(networkInterfaces())) {
    for (const entry of entries ?? []) if (entry.family === 'IPv4' && !entry.internal) return entry.address;
  }
  return undefined;
}

/**
 * The `Host` header normalized for comparison with {@link allowedHostsFor}: lower-cased, without a
 * trailing dot on the name; undefined when absent.
 */
export function normalizeHostHeader(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  return value.toLowerCase().replace(/\.(?=:\d+$|$)/, '');
}
