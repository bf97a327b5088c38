// Schemas and helpers every route module uses: the error body, the error responses of a route, a
// JSON request body that rejects unknown fields.

import { z, type OpenAPIHono } from '@hono/zod-openapi';
import type { ApiEnv } from './types.js';

/** The body of every error answer, as the OpenAPI document shows it. */
export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'invalid_request', description: 'stable, snake_case; see the README for the list' }),
      message: z.string().openapi({ description: 'what went wrong and what to do about it' }),
      requestId: z.string().openapi({ example: 'req_3f9c0a1b2c3d4e5f6a7b' }),
      details: z.unknown().optional().openapi({ description: 'machine-readable specifics, e.g. the failing paths of an invalid request' }),
    }),
  })
  .openapi('Error');

const ERROR_DESCRIPTIONS = {
  400: 'Malformed JSON (invalid_json) or a request that does not match the schema (invalid_request, with the failing paths)',
  401: 'Missing, unknown or revoked API key (unauthorized)',
  403: 'The key\'s role may not do this (forbidden)',
  404: 'No such resource in this tenant (not_found); another tenant\'s resource answers the same',
  409: 'Conflicts with the current state (name_taken, quota_exceeded, instance_busy, …)',
  413: 'Body over 1 MiB (payload_too_large)',
  415: 'A body that is not JSON (unsupported_media_type)',
  422: 'Idempotency-Key reused with a different request (idempotency_key_reused)',
} as const;

/** A status of {@link errorResponses}. */
export type ErrorStatus = keyof typeof ERROR_DESCRIPTIONS;

/**
 * The `responses` entries of a route's error answers, with the shared error schema.
 *
 * @example
 * createRoute({ method: 'delete', path: '/v1/keys/{keyId}', responses: { 200: …, ...errorResponses(401, 403, 404) } });
 */
export function errorResponses<S extends ErrorStatus>(...statuses: S[]): { [K in S]: { description: string; content: { 'application/json': { schema: typeof ErrorSchema } } } } {
  const out: Record<number, unknown> = {};
  for (const status of statuses) out[status] = { description: ERROR_DESCRIPTIONS[status], content: { 'application/json': { schema: ErrorSchema } } };
  return out as { [K in S]: { description: string; content: { 'application/json': { schema: typeof ErrorSchema } } } };
}

/**
 * A required JSON request body for `createRoute`. Give it a `.strict()` object schema: the API
 * refuses unknown fields (a misspelt optional field would otherwise be dropped silently), and the
 * server refuses to start with a body schema that is not strict (see `assertStrictBodies`).
 *
 * @example
 * createRoute({ method: 'post', path: '/v1/keys', request: { body: jsonBody(z.object({ name: z.string() }).strict()) }, responses: … });
 */
export function jsonBody<T extends z.ZodTypeAny>(schema: T, description?: string): { required: true; description?: string; content: { 'application/json': { schema: T } } } {
  return { required: true, ...(description === undefined ? {} : { description }), content: { 'application/json': { schema } } };
}

/** The security scheme name of API keys in the OpenAPI document. */
export const SECURITY_SCHEME = 'apiKey';

/** Registers the bearer-key security scheme in the app's OpenAPI registry. */
export function registerSecurityScheme(app: OpenAPIHono<ApiEnv>): void {
  app.openAPIRegistry.registerComponent('securitySchemes', SECURITY_SCHEME, {
    type: 'http',
    scheme: 'bearer',
    description: 'An API key, `sk_<keyId>_<secret>`, sent as `Authorization: Bearer <key>`. Made with POST /v1/keys (shown once); the first one is printed on the platform\'s first start.',
  });
}
