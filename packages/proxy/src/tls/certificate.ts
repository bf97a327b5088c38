// The proxy's TLS certificate: the operator's, or one generated (self-signed, with the `selfsigned`
// library) on first start and kept beside the proxy's state so clients can pin it.

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createSecureContext, type SecureContext } from 'node:tls';
import { generate } from 'selfsigned';
import { ProxyError } from '../errors.js';

/** A certificate and its private key, PEM. */
export interface TlsMaterial {
  readonly cert: string;
  readonly key: string;
}

/** How long a generated certificate is valid: long enough to never surprise, short enough to rotate. */
const GENERATED_VALIDITY_DAYS = 825;

/**
 * The certificate in `dir` (`proxy.crt`, `proxy.key`), generated on first use for `hostNames`
 * (DNS names; `localhost` and 127.0.0.1 are always included).
 *
 * @example
 * ```ts
 * const tls = await loadOrCreateCertificate('/var/lib/strata/proxy', ['db.example.com']);
 * ```
 */
export async function loadOrCreateCertificate(dir: string, hostNames: readonly string[] = []): Promise<TlsMaterial> {
  const certFile = join(dir, 'proxy.crt');
  const keyFile = join(dir, 'proxy.key');
  try {
    return { cert: await readFile(certFile, 'utf8'), key: await readFile(keyFile, 'utf8') };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const names = ['localhost', ...hostNames.filter((name) => name !== 'localhost')];
  const notAfter = new Date(Date.now() + GENERATED_VALIDITY_DAYS * 86_400_000);
  const pems = await generate([{ name: 'commonName', value: names[0]! }], {
    keySize: 2048,
    algorithm: 'sha256',
    notAfterDate: notAfter,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      // Wildcards so SNI names "<instance>.<domain>" match the certificate.
      { name: 'subjectAltName', altNames: [...names.flatMap((name) => [{ type: 2 as const, value: name }, { type: 2 as const, value: `*.${name}` }]), { type: 7 as const, ip: '127.0.0.1' }] },
    ],
  } as Parameters<typeof generate>[1]);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(keyFile, pems.private, { mode: 0o600 });
  await writeFile(certFile, pems.cert, { mode: 0o644 });
  return { cert: pems.cert, key: pems.private };
}

/** A secure context of `material`. @throws {ProxyError} `STRATA_PROXY_INVALID_CONFIG` when the PEMs do not load. */
export function secureContextOf(material: TlsMaterial): SecureContext {
  try {
    return createSecureContext({ cert: material.cert, key: material.key, minVersion: 'TLSv1.2' });
  } catch (error) {
    throw new ProxyError('STRATA_PROXY_INVALID_CONFIG', '58000', `the TLS certificate or key does not load: ${(error as Error).message}; give PEM files or remove them to have one generated`);
  }
}
