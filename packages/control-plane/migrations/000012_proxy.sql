-- What the proxy needs (issue 14): a tenant can be suspended (its instances refuse connections),
-- an instance has a pool mode and connection limits, and the proxy's metered usage lands per
-- instance and minute (written in batches by the proxy, read by the usage API).
alter table strata_cloud.tenants add column status text not null default 'active' check (status in ('active', 'suspended'));

-- Per instance: 'session' (a client keeps one server connection) or 'transaction' (server
-- connections are shared between transactions); limits through the proxy (null: the defaults).
alter table strata_cloud.instances add column pool_mode text not null default 'session' check (pool_mode in ('session', 'transaction'));
alter table strata_cloud.instances add column proxy_max_clients integer check (proxy_max_clients > 0);
alter table strata_cloud.instances add column proxy_max_server_connections integer check (proxy_max_server_connections > 0);

-- Operations (statements a client sent), bytes and connection time through the proxy, per minute.
create table strata_cloud.usage (
  instance_id text not null,
  tenant_id text not null,
  minute timestamptz not null,
  operations bigint not null default 0,
  bytes_in bigint not null default 0,
  bytes_out bigint not null default 0,
  connection_ms bigint not null default 0,
  primary key (instance_id, minute)
);
create index usage_tenant_minute on strata_cloud.usage (tenant_id, minute);
