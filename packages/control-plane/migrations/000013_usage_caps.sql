-- Monthly usage caps (issue 14): a tenant may cap the operations and the bytes sent to its clients
-- per calendar month (UTC); an evaluation sums the month's strata_cloud.usage, keeps each tenant's
-- state for the month, and the proxy refuses new statements of a tenant whose state is 'exceeded'.
-- See packages/control-plane/README.md "Usage and caps".

-- A tenant's caps; null: no cap on that measure. A cap of 0 would refuse everything: suspend the tenant instead.
create table strata_cloud.usage_caps (
  tenant_id text primary key references strata_cloud.tenants (tenant_id),
  operations_per_month bigint check (operations_per_month > 0),
  bytes_out_per_month bigint check (bytes_out_per_month > 0),
  updated_at timestamptz not null default now()
);

-- Where each capped tenant stands in a month, as the last evaluation found it: the usage it summed,
-- the larger of the two ratios to the caps (percent), and the state the proxy enforces. warned_at and
-- exceeded_at: when the state last rose to 75 % and 100 % (each rise is one event; repeating an
-- evaluation raises nothing), cleared when a raised cap brings it back down.
create table strata_cloud.usage_cap_state (
  tenant_id text not null,
  period_start date not null check (extract(day from period_start) = 1),
  operations bigint not null default 0,
  bytes_out bigint not null default 0,
  percent numeric not null default 0,
  state text not null default 'ok' check (state in ('ok', 'warning', 'exceeded')),
  warned_at timestamptz,
  exceeded_at timestamptz,
  evaluated_at timestamptz not null default now(),
  primary key (tenant_id, period_start)
);
-- The proxy's cap guard reads the exceeded tenants of the month every second.
create index usage_cap_state_exceeded on strata_cloud.usage_cap_state (period_start) where state = 'exceeded';
