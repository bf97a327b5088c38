// Webhook delivery: an HTTP(S) POST of an alert event, signed with the tenant's secret (HMAC-SHA256),
// to an address that is not the platform's own network unless the platform allows it.
import { createHmac } from 'node:crypto';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/** One attempt's bound: a receiver that has not answered by then is retried later. */
export const WEBHOOK_TIMEOUT_MS = 5_000;
/** URLs longer than this are mistakes. */
const MAX_URL_CHARS = 2_048;

/** Loopback, private, link-local, shared and multicast ranges: the platform's own network, not a tenant's receiver. */
const PRIVATE = new BlockList();
for (const [network, prefix] of [['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12], ['192.168.0.0', 16], ['224.0.0.0', 3]] as const) {
  PRIVATE.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [['::', 127], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8]] as const) PRIVATE.addSubnet(network, prefix, 'ipv6');

/** Whether an address is in the platform's own network (IPv4-mapped IPv6 read as IPv4). */
export function isPrivateAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped !== undefined) return PRIVATE.check(mapped, 'ipv4');
  return PRIVATE.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
}

/** What is wrong with a webhook URL, or undefined; names are resolved, and every address must be allowed. */
export async function webhookUrlProblem(url: string, allowPrivate: boolean): Promise<string | undefined> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `${JSON.stringify(url)} is not a URL; give an http:// or https:// URL of your receiver`;
  }
  if (url.length > MAX_URL_CHARS) return `the URL is longer than ${MAX_URL_CHARS} characters`;
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return `the URL's scheme is ${parsed.protocol}; use http:// or https://`;
  if (parsed.username !== '' || parsed.password !== '') return 'the URL holds credentials; authenticate the receiver by the signature (X-Strata-Signature) instead';
  if (allowPrivate) return undefined;
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  const addresses = isIP(host) !== 0 ? [host] : await resolveAll(host).catch(() => []);
  if (addresses.length === 0) return `${host} does not resolve; give a receiver this platform can reach`;
  const blocked = addresses.find(isPrivateAddress);
  if (blocked !== undefined) return `${host} is ${blocked}, an address of the platform's own network (loopback, private or link-local); webhooks go to public receivers`;
  return undefined;
}

function resolveAll(host: string): Promise<string[]> {
  return new Promise((resolve, reject) => dnsLookup(host, { all: true }, (error, addresses: LookupAddress[]) => (error ? reject(error) : resolve(addresses.map((a) => a.address)))));
}

/** The signature header's value for `body`: `sha256=<hex HMAC-SHA256 with the tenant's secret>`. */
export function signature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * POSTs `body` (JSON) to `url` with `X-Strata-Signature` and `X-Strata-Event`; resolves with the
 * status. The address is checked when the connection is made (a name that now resolves into the
 * platform's network is refused), and redirects are not followed.
 */
export function postWebhook(url: string, secret: string, eventId: string, body: string, allowPrivate: boolean): Promise<number> {
  const target = new URL(url);
  const lookup: LookupFunction = (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: false }, (error, address, family) => {
      if (error) return callback(error, '', 0);
      if (!allowPrivate && isPrivateAddress(address as string)) return callback(new Error(`${hostname} resolved to ${address as string}, an address of the platform's own network`), '', 0);
      callback(null, address as string, family as number);
    });
  };
  const literal = target.hostname.replace(/^\[|\]$/g, '');
  if (!allowPrivate && isIP(literal) !== 0 && isPrivateAddress(literal)) return Promise.reject(new Error(`${literal} is an address of the platform's own network`));
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const outgoing = request(
      target,
      {
        method: 'POST',
        lookup,
        timeout: WEBHOOK_TIMEOUT_MS,
        headers: { 'Content-Type': 'application/json', 'User-Agent': 'strata-alerts', 'X-Strata-Event': eventId, 'X-Strata-Signature': signature(secret, body), 'Content-Length': Buffer.byteLength(body) },
      },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
        response.on('error', reject);
      },
    );
    outgoing.on('timeout', () => outgoing.destroy(new Error(`no answer in ${WEBHOOK_TIMEOUT_MS} ms`)));
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}
