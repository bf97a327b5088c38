// Reading a request's JSON object body within the console's size limit, for the console's own
// routes and the bodies the cloud proxy passes on.

import type { Context, Env } from 'hono';
import { ConsoleRequestError } from './errors.js';
import { REQUEST_BODY_BYTES_MAX, REQUEST_BODY_DRAIN_BYTES_MAX, bodyTooLarge } from './limits.js';
import { parseBodyObject } from './params.js';

/**
 * The JSON object of a POST body (empty: `{}`), read up to {@link REQUEST_BODY_BYTES_MAX} bytes:
 * a larger one is refused with a 413 as soon as it is known, whatever Content-Length said.
 *
 * @example
 * app.post('/api/workflows/:id/fork', async (c) => parseForkBody(await readBodyObject(c)));
 */
export async function readBodyObject<E extends Env>(c: Context<E>): Promise<Record<string, unknown>> {
  const declared = c.req.header('Content-Length');
  if (declared !== undefined && Number(declared) > REQUEST_BODY_BYTES_MAX) throw tooLarge();
  const stream = c.req.raw.body;
  if (stream === null) return parseBodyObject('');
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    if (bytes <= REQUEST_BODY_BYTES_MAX) chunks.push(value);
    // Past the limit the rest is read and dropped, so the client gets the 413 rather than a reset
    // connection; past the drain bound the connection goes.
    else if (bytes > REQUEST_BODY_DRAIN_BYTES_MAX) await reader.cancel().catch(() => {});
  }
  if (bytes > REQUEST_BODY_BYTES_MAX) throw tooLarge();
  return parseBodyObject(Buffer.concat(chunks).toString('utf8'));
}

function tooLarge(): ConsoleRequestError {
  const { status, body } = bodyTooLarge();
  return new ConsoleRequestError(status, body.error.code, body.error.message);
}
