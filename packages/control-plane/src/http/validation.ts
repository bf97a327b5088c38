// How schema violations are answered (400 invalid_request with every failing path), and the
// start-up check that every JSON body schema refuses unknown fields.

import { z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { ApiError } from './errors.js';
import type { ApiEnv } from './types.js';

/** Issues listed in one answer: enough to fix a request, bounded for a huge invalid one. */
const ISSUES_MAX = 20;

/** Where in the request each validation target is, for the failing paths. */
const TARGET_NAMES: Readonly<Record<string, string>> = { json: 'body', param: 'path', query: 'query', header: 'header', cookie: 'cookie', form: 'body' };

/** One failing path of an invalid request. */
export interface Issue {
  readonly path: string;
  readonly message: string;
}

/**
 * The OpenAPIHono `defaultHook`: a request that fails its route's schema is refused with
 * `400 invalid_request`, listing each failing path (`body.name`, `query.limit`) in the message
 * and in `details.issues`.
 *
 * @example
 * const app = new OpenAPIHono<ApiEnv>({ defaultHook: validationHook });
 */
export function validationHook(result: { success: true; target: string } | { success: false; target: string; error: z.ZodError }, _c: Context<ApiEnv>): undefined {
  if (result.success) return undefined;
  const where = TARGET_NAMES[result.target] ?? result.target;
  const issues = issuesOf(where, result.error).slice(0, ISSUES_MAX);
  const summary = issues.map((issue) => `${issue.path}: ${issue.message}`).join('; ');
  throw new ApiError(400, 'invalid_request', `the request does not match the API's schema — ${summary}; see /v1/openapi.json or /v1/docs`, { issues });
}

function issuesOf(where: string, error: z.ZodError): Issue[] {
  return error.issues.flatMap((issue) => {
    const path = [where, ...issue.path.map(String)].join('.');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ path: `${path}.${key}`, message: 'unknown field; remove it (see the schema for the fields this route takes)' }));
    }
    return [{ path, message: issue.message }];
  });
}

/**
 * Refuses to start (throws) when a route's JSON body schema lets unknown fields through or is not
 * required: a misspelt field would be dropped silently, and an optional body is not validated at
 * all when the client sends no Content-Type. Fix: `jsonBody(z.object({…}).strict())`.
 *
 * @example
 * assertStrictBodies(app); // after every module has registered its routes
 */
export function assertStrictBodies(app: OpenAPIHono<ApiEnv>): void {
  for (const definition of app.openAPIRegistry.definitions) {
    if (definition.type !== 'route') continue;
    const { method, path, request } = definition.route;
    const body = request?.body;
    if (body === undefined) continue;
    const name = `${method.toUpperCase()} ${path}`;
    if (body.required !== true) throw new Error(`route ${name}: its JSON body must be required — use jsonBody(schema) from the http module`);
    for (const [mediaType, content] of Object.entries(body.content)) {
      const schema: unknown = (content as { schema?: unknown } | undefined)?.schema;
      if (!(schema instanceof z.ZodType)) continue;
      const loose = looseObjectPath(schema, 'body');
      if (loose !== undefined) throw new Error(`route ${name}: the ${mediaType} body schema lets unknown fields through at ${loose} — make that object .strict()`);
    }
  }
}

/** The path of the first object schema (within `schema`) that is not strict, or undefined. */
function looseObjectPath(schema: z.ZodType, path: string): string | undefined {
  if (schema instanceof z.ZodObject) {
    // .strict() sets the catch-all to never; the default strips unknown keys, .loose() keeps them.
    if (!(schema.def.catchall instanceof z.ZodNever)) return path;
    for (const [key, value] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
      const inner = looseObjectPath(value, `${path}.${key}`);
      if (inner !== undefined) return inner;
    }
    return undefined;
  }
  if (schema instanceof z.ZodOptional || schema instanceof z.ZodNullable || schema instanceof z.ZodDefault) return looseObjectPath(schema.unwrap() as z.ZodType, path);
  if (schema instanceof z.ZodPipe) return looseObjectPath(schema.in as z.ZodType, path);
  if (schema instanceof z.ZodArray) return looseObjectPath(schema.element as z.ZodType, `${path}[]`);
  if (schema instanceof z.ZodRecord) return looseObjectPath(schema.valueType as z.ZodType, `${path}.*`);
  if (schema instanceof z.ZodUnion) {
    for (const option of schema.options as readonly z.ZodType[]) {
      const inner = looseObjectPath(option, path);
      if (inner !== undefined) return inner;
    }
  }
  return undefined;
}
