// Who may use the console: nobody needs a credential on loopback (zero setup); beyond loopback
// every page, API call and live stream needs one — the built-in token, or whatever an
// `authenticate` hook accepts (the control plane's API keys plug in here).

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Who a request acts for, as the authenticator established it. */
export interface ConsolePrincipal {
  /** A stable, printable name for logs and operator-action records, e.g. `token` or an API key's ID. */
  readonly id: string;
}

/**
 * Decides whether a credential may use the console. It receives the credential a request carries
 * — the `Authorization: Bearer <credential>` header of a script, or the session cookie a browser
 * got from `POST /api/login` — and returns who it is, or undefined to refuse. It is called on
 * every request, so it should answer from memory or a cache.
 *
 * @example
 * // The control plane's API keys: any key with the "console" scope may use the console.
 * const authenticate: ConsoleAuthenticator = async (credential) => {
 *   const key = await apiKeys.verify(credential);          // your own lookup
 *   return key?.scopes.includes('console') ? { id: key.id } : undefined;
 * };
 * await startConsole({ database, host: '0.0.0.0', authenticate });
 */
export type ConsoleAuthenticator = (credential: string) => ConsolePrincipal | undefined | Promise<ConsolePrincipal | undefined>;

/** The principal of the built-in token. */
export const TOKEN_PRINCIPAL: ConsolePrincipal = { id: 'console-token' };

/** The environment variable that supplies the built-in token. */
export const TOKEN_ENV_VAR = 'STRATA_CONSOLE_TOKEN';

/** The cookie `POST /api/login` sets: HttpOnly (no script reads it), SameSite=Strict (no other site sends it). */
export const SESSION_COOKIE = 'strata_console_session';

/** Random bytes of a generated token: 256 bits, beyond guessing at any request rate. */
const GENERATED_TOKEN_BYTES = 32;

/** Shortest token accepted from the environment or an option: shorter ones can be guessed online. */
export const TOKEN_LENGTH_MIN = 16;

/** Longest credential read from a request; longer is refused before hashing (a credential is far shorter). */
export const CREDENTIAL_LENGTH_MAX = 4_096;

/** A fresh random token (base64url, 43 characters). */
export function generateToken(): string {
  return randomBytes(GENERATED_TOKEN_BYTES).toString('base64url');
}

/**
 * An authenticator that accepts exactly `token`, compared in constant time (both sides are hashed
 * first, so neither the length nor a common prefix shows in the timing).
 *
 * @example
 * const authenticate = tokenAuthenticator('s3cr3t-s3cr3t-s3cr3t');
 * await authenticate('s3cr3t-s3cr3t-s3cr3t');   // { id: 'console-token' }
 * await authenticate('guess');                  // undefined
 */
export function tokenAuthenticator(token: string): ConsoleAuthenticator {
  const expected = digest(token);
  return (credential) => (timingSafeEqual(digest(credential), expected) ? TOKEN_PRINCIPAL : undefined);
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * The credential a request carries: `Authorization: Bearer <credential>`, else the session cookie;
 * undefined when neither (or an over-long one) is present.
 */
export function credentialOf(headers: { get(name: string): string | null | undefined }): string | undefined {
  const authorization = headers.get('authorization');
  const bearer = authorization ? /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization)?.[1] : undefined;
  const credential = bearer ?? cookieValue(headers.get('cookie') ?? '', SESSION_COOKIE);
  return credential !== undefined && credential !== '' && credential.length <= CREDENTIAL_LENGTH_MAX ? credential : undefined;
}

function cookieValue(header: string, name: string): string | undefined {
  for (const part of header.split(';')) {
    const separator = part.indexOf('=');
    if (separator < 0 || part.slice(0, separator).trim() !== name) continue;
    try {
      return decodeURIComponent(part.slice(separator + 1).trim());
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** The `Set-Cookie` value that keeps `credential` for this browser session, on this console only. */
export function sessionCookie(credential: string): string {
  return `${SESSION_COOKIE}=${encodeURIComponent(credential)}; Path=/; HttpOnly; SameSite=Strict`;
}
