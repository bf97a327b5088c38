// Reading a request body: at most REQUEST_BODY_BYTES_MAX bytes, JSON only, parsed once. Route
// validators and the idempotency layer then use the parsed value.

import type { Context } from 'hono';
import { ApiError } from './errors.js';
import { REQUEST_BODY_BYTES_MAX, REQUEST_BODY_DRAIN_BYTES_MAX } from './limits.js';

/** A JSON media type: `application/json`, `application/<x>+json`. */
const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i;

/** The body of a request as read by {@link readJsonBody}. */
export interface RequestBody {
  /** The parsed JSON value; undefined for an empty body. */
  readonly value: unknown;
}

const bodies = new WeakMap<Request, RequestBody>();

/**
 * Reads the body of `c`'s request (any method that may carry one): refuses one over
 * {@link REQUEST_BODY_BYTES_MAX} with `413 payload_too_large` (whatever Content-Length said), a
 * non-empty body that is not declared JSON with `415 unsupported_media_type`, and JSON that does
 * not parse with `400 invalid_json`. The text is handed to Hono's body cache, so the route's
 * validator parses the same bytes.
 *
 * @example
 * app.use('*', async (c, next) => { await readJsonBody(c); await next(); });
 */
export async function readJsonBody(c: Context): Promise<RequestBody> {
  const known = bodies.get(c.req.raw);
  if (known !== undefined) return known;
  const declared = c.req.header('Content-Length');
  if (declared !== undefined && Number(declared) > REQUEST_BODY_BYTES_MAX) throw tooLarge();
  const text = await readText(c.req.raw.body);
  const mediaType = (c.req.header('Content-Type') ?? '').split(';')[0]?.trim() ?? '';
  let body: RequestBody;
  if (text === '') {
    body = { value: undefined };
  } else {
    if (!JSON_MEDIA_TYPE.test(mediaType)) {
      throw new ApiError(415, 'unsupported_media_type', `the request body must be JSON sent with "Content-Type: application/json"${mediaType === '' ? '' : `, not ${JSON.stringify(mediaType.slice(0, 100))}`}`);
    }
    try {
      body = { value: JSON.parse(text) as unknown };
    } catch (error) {
      throw new ApiError(400, 'invalid_json', `the request body is not valid JSON (${(error as Error).message}); send one JSON object`);
    }
  }
  // Hono's validator reads c.req.json(), which parses this cached text (the stream is consumed);
  // an empty JSON body reads as {}, so the schema names what is missing. Hono caches promises
  // here, whatever its declared type says.
  (c.req.bodyCache as Record<string, unknown>).text = Promise.resolve(text === '' && JSON_MEDIA_TYPE.test(mediaType) ? '{}' : text);
  bodies.set(c.req.raw, body);
  return body;
}

/** The body already read for this request by {@link readJsonBody}, if any. */
export function bodyOf(c: Context): RequestBody | undefined {
  return bodies.get(c.req.raw);
}

async function readText(stream: ReadableStream<Uint8Array> | null): Promise<string> {
  if (stream === null) return '';
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
    else if (bytes > REQUEST_BODY_DRAIN_BYTES_MAX) {
      await reader.cancel().catch(() => {});
      break;
    }
  }
  if (bytes > REQUEST_BODY_BYTES_MAX) throw tooLarge();
  return Buffer.concat(chunks).toString('utf8');
}

function tooLarge(): ApiError {
  return new ApiError(413, 'payload_too_large', `the request body must be at most ${REQUEST_BODY_BYTES_MAX} bytes (1 MiB); send less`);
}
