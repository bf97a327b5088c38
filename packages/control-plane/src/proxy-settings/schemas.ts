// The zod schemas of the proxy-settings routes: the handlers validate with them and the OpenAPI
// document is generated from them. A cache rule has the proxy's CacheRule shape and bounds.
import { z } from '@hono/zod-openapi';
import {
  CACHE_TABLE_PATTERN,
  CACHE_TAG_PATTERN,
  MAX_CACHE_RULES,
  MAX_CACHE_TAGS,
  MAX_CACHE_TTL_MS,
  MAX_PROXY_CLIENTS,
  MAX_RULE_TABLES,
} from './limits.js';

const TAG_RULE = 'a tag is 1 to 64 of a-z, 0-9, _ : . - (e.g. products or catalog:featured)';
const TABLE_RULE = 'a table is schema.table, table, schema.* or * — names as PostgreSQL folds them (unquoted names lower-case), without quotes or spaces, at most 63 characters each';

const Tag = z.string().regex(CACHE_TAG_PATTERN, TAG_RULE);

const milliseconds = (name: string, min: number) =>
  z
    .number({ error: `${name} must be a number of milliseconds` })
    .int(`${name} must be a whole number of milliseconds`)
    .min(min, `${name} must be at least ${min} ms`)
    .max(MAX_CACHE_TTL_MS, `${name} must be at most ${MAX_CACHE_TTL_MS} ms (one day)`);

/** One standing cache rule of an instance (the proxy's `CacheRule`). */
export const CacheRuleSchema = z
  .object({
    tables: z
      .array(z.string().regex(CACHE_TABLE_PATTERN, TABLE_RULE))
      .min(1, 'list at least one table (schema.table, table, schema.* or *)')
      .max(MAX_RULE_TABLES, `at most ${MAX_RULE_TABLES} tables per rule; use schema.* to cover a whole schema`)
      .openapi({ description: 'A read is cached by this rule when every table it reads is covered; a name without a schema is in public', example: ['products', 'shop.*'] }),
    ttlMs: milliseconds('ttlMs', 1).openapi({ description: `How long a result is served fresh, 1 to ${MAX_CACHE_TTL_MS} ms`, example: 30_000 }),
    swrMs: milliseconds('swrMs', 0).openapi({ description: 'How long it is then still served (stale) while one query refreshes it; 0: not at all', example: 60_000 }),
    tags: z
      .array(Tag)
      .max(MAX_CACHE_TAGS, `at most ${MAX_CACHE_TAGS} tags per rule`)
      .optional()
      .openapi({ description: 'Handles for POST /v1/instances/{instance}/cache/invalidate', example: ['catalog'] }),
  })
  .strict()
  .openapi('CacheRule');

const CacheRules = z
  .array(CacheRuleSchema)
  .max(MAX_CACHE_RULES, `at most ${MAX_CACHE_RULES} rules per instance; merge rules with the same ttl into one`)
  .openapi({ description: 'Tried in order: the first rule that covers a read decides; a strata:cache hint in the SQL wins over every rule' });

const limit = (what: string) =>
  z
    .number({ error: `${what} must be a whole number or null` })
    .int(`${what} must be a whole number`)
    .min(1, `${what} must be at least 1`)
    .max(MAX_PROXY_CLIENTS, `${what} must be at most ${MAX_PROXY_CLIENTS}`);

/** An instance's settings in the proxy, as the API shows them. */
export const ProxySettingsSchema = z
  .object({
    poolMode: z.enum(['session', 'transaction']).openapi({ description: 'session: a client keeps one server connection; transaction: server connections are shared between transactions' }),
    maxClients: z.number().int().nullable().openapi({ description: "Client connections to the instance through the proxy; null: the proxy's default" }),
    maxServerConnections: z.number().int().nullable().openapi({ description: "Connections the proxy opens to the instance; null: the proxy's default" }),
    cacheRules: z.array(CacheRuleSchema),
  })
  .openapi('ProxySettings');

/** A change of settings: a field left out keeps its value; null puts a limit back to the proxy's default. */
export const ProxySettingsPatch = z
  .object({
    poolMode: z.enum(['session', 'transaction'], { error: "poolMode must be 'session' or 'transaction'" }).optional(),
    maxClients: limit('maxClients').nullable().optional().openapi({ description: "1 to 10000, or null for the proxy's default" }),
    maxServerConnections: limit('maxServerConnections').nullable().optional().openapi({ description: "1 to the instance's max_connections (its flavor's), or null for the proxy's default" }),
    cacheRules: CacheRules.optional(),
  })
  .strict()
  .refine((value) => Object.keys(value).length > 0, { message: 'give at least one of poolMode, maxClients, maxServerConnections, cacheRules' })
  .openapi('ProxySettingsChange');

/** `POST /v1/instances/{instance}/cache/invalidate`. */
export const InvalidateBody = z
  .object({
    tags: z
      .array(Tag)
      .min(1, 'give at least one tag')
      .max(MAX_CACHE_TAGS, `at most ${MAX_CACHE_TAGS} tags per request; send several requests for more`)
      .openapi({ description: 'Cached results of the instance carrying any of these tags (from a rule or a strata:cache hint) are dropped', example: ['catalog'] }),
  })
  .strict()
  .openapi('CacheInvalidation');

/** The answer of an invalidation. */
export const InvalidationSchema = z
  .object({
    invalidationId: z.string().openapi({ description: 'The invalidation row; proxies apply it within their poll interval (250 ms by default)', example: '42' }),
  })
  .openapi('CacheInvalidationAccepted');
