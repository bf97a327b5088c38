// Every request gets an ID (the client's X-Request-Id when it is a sane one), echoed in the
// response header, error bodies and the audit log, so one call can be followed everywhere.

import { randomBytes } from 'node:crypto';
import { REQUEST_ID_LENGTH_MAX } from './limits.js';

/** Client-supplied request IDs are kept only when they are short and printable. */
const CLIENT_REQUEST_ID = new RegExp(`^[A-Za-z0-9._:-]{1,${REQUEST_ID_LENGTH_MAX}}$`);

/** The header that carries the request ID both ways. */
export const REQUEST_ID_HEADER = 'X-Request-Id';

/**
 * The request ID for a request: the client's `X-Request-Id` when it is 1–128 printable characters
 * (letters, digits, `._:-`), otherwise a new `req_` ID.
 *
 * @example
 * requestIdFor('trace-42'); // 'trace-42'
 * requestIdFor(undefined);  // 'req_3f9c0a1b2c3d4e5f6a7b'
 */
export function requestIdFor(given: string | undefined): string {
  if (given !== undefined && CLIENT_REQUEST_ID.test(given)) return given;
  return `req_${randomBytes(10).toString('hex')}`;
}
