// SCRAM-SHA-256 password verifiers in PostgreSQL's format (RFC 5802 / RFC 7677), so plaintext
// passwords never reach a workflow input, a table or the instance's own log.

import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { PgInstanceError } from './errors.js';

/** PostgreSQL's default (scram_iterations); the server reads the count from the verifier. */
export const SCRAM_ITERATIONS = 4096;
/** PostgreSQL's SCRAM_DEFAULT_SALT_LEN. */
const SCRAM_SALT_BYTES = 16;
/** Longer "passwords" are keys or mistakes; PBKDF2 over megabytes would be a denial of service. */
export const MAX_PASSWORD_CHARS = 1024;

/**
 * The SCRAM-SHA-256 verifier of `password`, as PostgreSQL stores it in pg_authid
 * (`SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>`, base64), with a fresh random 16-byte salt.
 * `CREATE ROLE … PASSWORD '<verifier>'` stores it as is, and the role then logs in with the
 * plaintext over SCRAM. The password is normalized with SASLprep as PostgreSQL does: ASCII
 * exactly; other text mapped (non-ASCII spaces, invisible characters) and NFKC-normalized, or
 * used as raw bytes when it holds prohibited characters (bidirectional-text rules are not checked).
 *
 * @throws {PgInstanceError} `PG_INSTANCE_INVALID_ARGUMENT` for an empty or oversized password.
 *
 * @example
 * ```ts
 * const verifier = scramVerifier('correct horse battery staple');
 * await cluster.query(`create role app login password '${verifier}'`); // the verifier, not the password
 * ```
 */
export function scramVerifier(password: string): string {
  if (typeof password !== 'string' || password.length === 0 || password.length > MAX_PASSWORD_CHARS) {
    throw new PgInstanceError('PG_INSTANCE_INVALID_ARGUMENT', `a password must be a non-empty string of at most ${MAX_PASSWORD_CHARS} characters`);
  }
  const salt = randomBytes(SCRAM_SALT_BYTES);
  const salted = pbkdf2Sync(Buffer.from(saslPrep(password), 'utf8'), salt, SCRAM_ITERATIONS, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${SCRAM_ITERATIONS}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** RFC 3454 C.1.2: non-ASCII spaces, mapped to U+0020. */
const NON_ASCII_SPACE = /[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/gu;
/** RFC 3454 B.1: characters commonly mapped to nothing. */
const MAPPED_TO_NOTHING = /[\u00AD\u034F\u1806\u180B-\u180D\u200B-\u200D\u2060\uFE00-\uFE0F\uFEFF]/gu;
/** RFC 3454 C.1.2-C.9 (after mapping): controls, private use, non-characters, surrogates, display and tagging characters. */
const PROHIBITED = /[\u0000-\u001F\u007F-\u009F\u06DD\u070F\u180E\u200C-\u200F\u2028-\u202E\u2060-\u2063\u206A-\u206F\u2FF0-\u2FFB\uD800-\uDFFF\uE000-\uF8FF\uFDD0-\uFDEF\uFEFF\uFFF9-\uFFFF\u{1D173}-\u{1D17A}\u{E0001}\u{E0020}-\u{E007F}\u{F0000}-\u{10FFFF}\u0340\u0341]/u;

/** SASLprep as PostgreSQL's pg_saslprep applies it; prohibited input is used unchanged, as PostgreSQL does. */
function saslPrep(password: string): string {
  if (/^[\x00-\x7F]*$/.test(password)) return password;
  const prepared = password.replace(NON_ASCII_SPACE, ' ').replace(MAPPED_TO_NOTHING, '').normalize('NFKC');
  if (prepared === '' || PROHIBITED.test(prepared)) return password;
  return prepared;
}
