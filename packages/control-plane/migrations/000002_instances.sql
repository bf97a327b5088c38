-- Database instances and their events (component "control-plane"). See packages/control-plane/README.md "Instances".
create schema if not exists strata_cloud;

create table strata_cloud.instances (
  instance_id text primary key,
  tenant_id text not null,
  name text not null,
  status text not null check (status in ('BUILD', 'ACTIVE', 'RESIZE', 'RESTART_REQUIRED', 'STOPPED', 'ERROR', 'DELETED', 'UNKNOWN')),
  -- The status to return to when a node that went quiet heartbeats again (set while UNKNOWN).
  status_before_unknown text,
  flavor text not null,
  memory_mb integer not null,
  max_connections integer not null,
  storage_mb integer not null,
  node_id text not null,
  host text,
  port integer,
  -- Tenant parameters given at create (flavor settings are derived, not stored here).
  parameters jsonb not null default '{}',
  databases text[] not null default '{}',
  -- The first user of the create: the connection string's user.
  default_user text,
  -- The operation running on the instance (one at a time), or null.
  operation_id text,
  operation_kind text,
  error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  deleted_at timestamptz,
  check ((operation_id is null) = (operation_kind is null))
);
-- Names are unique per tenant among instances that are not deleted.
create unique index instances_tenant_name on strata_cloud.instances (tenant_id, name) where status <> 'DELETED';
create index instances_node on strata_cloud.instances (node_id) where status <> 'DELETED';

-- What happened to an instance (operation started/finished/failed, node lost/back), append-only.
create table strata_cloud.instance_events (
  event_id bigserial primary key,
  instance_id text not null,
  kind text not null,
  message text not null,
  workflow_id text,
  at timestamptz not null default now()
);
create index instance_events_instance on strata_cloud.instance_events (instance_id, event_id);

-- Quota usage now counts instances (replaces the empty view of 000001): every instance that is not deleted.
create or replace view strata_cloud.tenant_usage as
  select tenant_id, count(*)::bigint as instances, sum(storage_mb)::bigint as storage_mb, sum(max_connections)::bigint as connections
    from strata_cloud.instances
   where status <> 'DELETED'
   group by tenant_id;
