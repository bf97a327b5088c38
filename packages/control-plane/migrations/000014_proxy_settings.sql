-- The proxy's query cache, as a tenant steers it (issue 14): an instance's standing cache rules, and
-- invalidations by tag that the control plane's API records and every proxy reads (polling by id).
-- See packages/control-plane/README.md "Proxy settings and cache invalidation".

-- Per instance: [{ tables, ttlMs, swrMs, tags? }, …] (the proxy's CacheRule), checked by the API
-- (src/proxy-settings/schemas.ts) and again by the proxy when it loads them; [] caches nothing by rule.
alter table strata_cloud.instances add column cache_rules jsonb not null default '[]' check (jsonb_typeof(cache_rules) = 'array');

-- One row per invalidation request: every proxy drops the instance's cached results carrying any of
-- the tags. Proxies read rows by increasing id (packages/proxy/src/directory/invalidations.ts);
-- the inserter deletes rows older than an hour in the same transaction, so the table stays small.
create table strata_cloud.cache_invalidations (
  id bigserial primary key,
  instance_id text not null,
  tags text[] not null check (cardinality(tags) between 1 and 16),
  created_at timestamptz not null default now()
);
create index cache_invalidations_created_at on strata_cloud.cache_invalidations (created_at);
