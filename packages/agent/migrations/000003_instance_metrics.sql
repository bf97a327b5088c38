-- Samples of each running instance, written by its node's agent (src/metrics/) every few seconds
-- and kept for a bounded time: what GET /v1/instances/{id}/metrics, /v1/metrics and alert rules read.
create table strata_cloud.instance_metrics (
  instance_id text not null,
  node_id text not null,
  at timestamptz not null default now(),
  -- Client connections (the sampler's own not counted).
  connections integer,
  -- Commits and rollbacks per second since the previous sample (null for a node's first).
  transactions_per_second double precision,
  cache_hit_ratio double precision,
  database_bytes bigint,
  -- The slowest streaming replica's replay lag (null without replicas).
  replication_lag_seconds double precision,
  longest_transaction_seconds double precision,
  -- The archiver's last attempt failed (pg_stat_archiver), and how long since it last archived a segment.
  archive_failing boolean,
  last_archived_age_seconds double precision,
  primary key (instance_id, at)
);
create index instance_metrics_node_at on strata_cloud.instance_metrics (node_id, at);
