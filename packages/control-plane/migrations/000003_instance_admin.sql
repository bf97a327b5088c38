-- What tenants keep inside their instances (component "control-plane"): configuration groups and the
-- users of each instance (SCRAM verifiers only, never a password). See packages/control-plane/README.md "Inside an instance".
create schema if not exists strata_cloud;

-- A named set of PostgreSQL parameters, checked against the pg_settings catalogue of major_version.
create table strata_cloud.config_groups (
  group_id text primary key,
  tenant_id text not null,
  name text not null,
  description text not null default '',
  major_version integer not null,
  -- name → value, in the catalogue's spelling.
  parameters jsonb not null,
  -- Names among parameters whose change needs a server restart (pg_settings.context = 'postmaster').
  restart_required text[] not null default '{}',
  created_at timestamptz not null default now()
);
create unique index config_groups_tenant_name on strata_cloud.config_groups (tenant_id, name);

-- The group attached to an instance (at most one); a group cannot be deleted while attached.
alter table strata_cloud.instances
  add column config_group_id text references strata_cloud.config_groups (group_id);
create index instances_config_group on strata_cloud.instances (config_group_id) where config_group_id is not null;

-- The login roles the API made in an instance, with their verifier and grants: what the instance
-- should contain, and what a future proxy authenticates against.
create table strata_cloud.instance_users (
  instance_id text not null,
  name text not null,
  -- "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>"
  verifier text not null check (verifier like 'SCRAM-SHA-256$%'),
  -- [{ "database": "app", "privilege": "all" | "read" }, …]
  grants jsonb not null default '[]',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (instance_id, name)
);
