// Idempotency-Key on POST: the first request with a key runs and its answer is stored; a retry
// with the same key and the same request gets that answer and changes nothing; the same key
// with a different request is refused. Concurrent duplicates wait for the first.

import { createHash } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import type { Database } from '@strata/store';
import { readJsonBody } from '../http/body.js';
import { ApiError } from '../http/errors.js';
import type { ApiEnv } from '../http/types.js';
import { claimKey, completeKey, expireKeys, readKey, releaseKey, takeOverKey } from './sql.js';

/** The request header. */
export const IDEMPOTENCY_HEADER = 'Idempotency-Key';

/** The header on a replayed answer. */
export const REPLAYED_HEADER = 'Idempotent-Replayed';

/** Keys are 1–255 visible ASCII characters: room for a UUID or a client's own scheme. */
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/** How long a key is kept: a day covers any client's retry schedule (Stripe keeps 24 hours too). */
export const IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;

/** A duplicate waits this long for the first request to finish before it is told to retry later. */
const WAIT_FOR_FIRST_MS = 30_000;

/** How often a waiting duplicate looks again. */
const WAIT_POLL_INTERVAL_MS = 50;

/** A request that has not finished after this long is taken to have died with its process; a retry takes its key over. */
const ABANDONED_AFTER_SECONDS = 5 * 60;

/** Fields each request asked to keep out of the stored copy (secrets shown once). */
const hidden = new WeakMap<Request, string[]>();

/**
 * Keeps the top-level JSON `fields` of this request's answer out of the stored copy: a replay
 * answers them as null. For secrets that are shown once (a new API key's token).
 *
 * @example
 * hideFromReplay(c, 'token');
 * return c.json({ key, token }, 201);
 */
export function hideFromReplay(c: Context, ...fields: string[]): void {
  hidden.set(c.req.raw, [...(hidden.get(c.req.raw) ?? []), ...fields]);
}

/**
 * The middleware (after authentication) that makes POSTs with an `Idempotency-Key` idempotent
 * per tenant. Answers under 500 are stored and replayed with `Idempotent-Replayed: true`; a 5xx
 * answer forgets the key so the retry runs again.
 *
 * @example
 * app.use('/v1/*', idempotency(db));
 */
export function idempotency(db: Database): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const key = c.req.header(IDEMPOTENCY_HEADER);
    if (c.req.method !== 'POST' || key === undefined) return next();
    if (!KEY_PATTERN.test(key)) {
      throw new ApiError(400, 'invalid_request', `the ${IDEMPOTENCY_HEADER} header must be 1 to 255 visible ASCII characters, e.g. a UUID`);
    }
    const { tenantId } = c.get('principal');
    const body = await readJsonBody(c);
    const fingerprint = createHash('sha256').update(`${c.req.method} ${c.req.path}\n${canonicalJson(body.value)}`).digest('hex');
    await expireKeys(db, IDEMPOTENCY_TTL_SECONDS);

    let owner = await claimKey(db, tenantId, key, fingerprint);
    const deadline = Date.now() + WAIT_FOR_FIRST_MS;
    while (!owner) {
      const stored = await readKey(db, tenantId, key);
      if (stored === undefined) {
        owner = await claimKey(db, tenantId, key, fingerprint);
        continue;
      }
      if (stored.fingerprint !== fingerprint) {
        throw new ApiError(422, 'idempotency_key_reused', `this ${IDEMPOTENCY_HEADER} was used for a different request (another method, path or body); use a new key for a new request`);
      }
      if (stored.response !== null) {
        const headers: Record<string, string> = { [REPLAYED_HEADER]: 'true' };
        if (stored.response.contentType !== null) headers['Content-Type'] = stored.response.contentType;
        return c.body(stored.response.body, stored.response.status as 200, headers);
      }
      if (await takeOverKey(db, tenantId, key, ABANDONED_AFTER_SECONDS)) {
        owner = true;
        break;
      }
      if (Date.now() > deadline) {
        throw new ApiError(409, 'idempotency_key_in_progress', `a request with this ${IDEMPOTENCY_HEADER} is still running; retry it in a few seconds to get its answer`);
      }
      await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_INTERVAL_MS));
    }

    try {
      await next();
    } catch (error) {
      await releaseKey(db, tenantId, key).catch(() => {});
      throw error;
    }
    const response = c.res;
    if (response.status >= 500) {
      await releaseKey(db, tenantId, key);
      return;
    }
    const text = await response.clone().text();
    await completeKey(db, tenantId, key, { status: response.status, contentType: response.headers.get('Content-Type'), body: withoutHidden(text, hidden.get(c.req.raw)) });
  };
}

/** The stored copy of an answer: the hidden top-level fields set to null. */
function withoutHidden(text: string, fields: readonly string[] | undefined): string {
  if (fields === undefined || fields.length === 0) return text;
  const value = JSON.parse(text) as Record<string, unknown>;
  for (const field of fields) if (field in value) value[field] = null;
  return JSON.stringify(value);
}

/**
 * JSON with object keys sorted at every level, so the same request with its fields in another
 * order has the same fingerprint.
 *
 * @example
 * canonicalJson({ b: 1, a: [ { d: 2, c: 3 } ] }); // '{"a":[{"c":3,"d":2}],"b":1}'
 */
export function canonicalJson(value: unknown): string {
  if (value === undefined) return '';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? 'null' : canonicalJson(item))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, item]) => item !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([name, item]) => `${JSON.stringify(name)}:${canonicalJson(item)}`).join(',')}}`;
}
