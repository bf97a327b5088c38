// Which `Host` headers the API answers: its loopback names by default, plus names the operator
// configured. A page that DNS-rebinds its own name to 127.0.0.1 sends its own name, not ours.
// (The same idea as the console's src/security/hosts.ts; see this package's README.)

import { isIP } from 'node:net';

/**
 * Whether `address` (as `server.address()` reports it) reaches only this machine.
 *
 * @example
 * isLoopbackAddress('127.0.0.1'); // true
 * isLoopbackAddress('0.0.0.0');   // false
 */
export function isLoopbackAddress(address: string): boolean {
  const plain = address.toLowerCase().replace(/^::ffff:/, '');
  return plain === '::1' || (isIP(plain) === 4 && plain.startsWith('127.'));
}

/** `address:port` as it appears in a `Host` header: IPv6 in brackets, names lower-cased. */
export function hostHeaderOf(address: string, port: number): string {
  return `${isIP(address) === 6 ? `[${address}]` : address.toLowerCase()}:${port}`;
}

/**
 * The `Host` values the API answers: `127.0.0.1`, `localhost` and `[::1]` with its port, the
 * address it is bound to, and each configured name (a bare `name` matches with no port — behind
 * a proxy on 443 — or with the API's port; `name:port` matches exactly).
 *
 * @example
 * allowedHostsFor({ boundAddress: '127.0.0.1', port: 8080, extraHosts: ['api.example.com'] });
 * // Set { '127.0.0.1:8080', 'localhost:8080', '[::1]:8080', 'api.example.com', 'api.example.com:8080' }
 */
export function allowedHostsFor(options: { readonly boundAddress: string; readonly port: number; readonly extraHosts: readonly string[] }): ReadonlySet<string> {
  const { boundAddress, port } = options;
  const hosts = new Set<string>([hostHeaderOf('127.0.0.1', port), `localhost:${port}`, `[::1]:${port}`, hostHeaderOf(boundAddress, port)]);
  for (const extra of options.extraHosts) {
    const name = normalizeHostHeader(extra) ?? '';
    hosts.add(name);
    if (!/:\d+$/.test(name) || name.endsWith(']')) hosts.add(`${name}:${port}`);
  }
  return hosts;
}

/** A `Host` header lower-cased and without a trailing dot on the name; undefined when absent. */
export function normalizeHostHeader(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  return value.toLowerCase().replace(/\.(?=:\d+$|$)/, '');
}

/** Whether `name` could be a host name or `name:port` to allow (checked when the server starts). */
export function isHostName(name: string): boolean {
  return /^[a-z0-9.\-\[\]:]+$/i.test(name);
}
