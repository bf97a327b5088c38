-- The control plane's platform tables: tenants with their quotas, API keys (slow hashes only),
-- the hash-chained append-only audit log, and stored answers of idempotent POSTs.
create schema if not exists strata_cloud;

create table strata_cloud.tenants (
  tenant_id text primary key,
  name text not null,
  -- The one tenant whose admins create tenants and set quotas.
  platform boolean not null default false,
  max_instances integer not null check (max_instances >= 0),
  max_storage_mb integer not null check (max_storage_mb >= 0),
  max_connections integer not null check (max_connections >= 0),
  created_at timestamptz not null default now()
);
create unique index tenants_name_key on strata_cloud.tenants (name);
create unique index tenants_one_platform on strata_cloud.tenants (platform) where platform;

create table strata_cloud.api_keys (
  key_id text primary key,
  tenant_id text not null references strata_cloud.tenants (tenant_id),
  name text not null,
  role text not null check (role in ('admin', 'member', 'read-only')),
  -- scrypt(secret, salt): the secret itself is shown once and never stored.
  salt bytea not null,
  hash bytea not null,
  created_by text,
  created_at timestamptz not null default now(),
  last_used_at timestamptz,
  revoked_at timestamptz
);
create index api_keys_tenant on strata_cloud.api_keys (tenant_id, created_at);

-- What each tenant uses, for quota checks. The resources' own migrations replace this view
-- (create or replace view, same columns) once they have tables to count.
create view strata_cloud.tenant_usage as
  select null::text as tenant_id, 0::bigint as instances, 0::bigint as storage_mb, 0::bigint as connections
  where false;

create table strata_cloud.audit_log (
  id bigserial primary key,
  tenant_id text not null,
  -- Position in the tenant's own chain, from 1 without gaps.
  tenant_seq bigint not null,
  key_id text,
  action text not null,
  target text not null,
  request_id text not null,
  result text not null,
  at timestamptz not null,
  -- hash = sha256(prev_hash || canonical row), hex; the first row of a chain has prev_hash ''.
  prev_hash text not null,
  hash text not null,
  unique (tenant_id, tenant_seq)
);
create index audit_log_tenant_id on strata_cloud.audit_log (tenant_id, id);

create function strata_cloud.audit_log_refuse_change() returns trigger
language plpgsql as $$
begin
  raise exception 'strata_cloud.audit_log is append-only: % is refused', tg_op
    using errcode = '42501', hint = 'audit rows are never changed or deleted; append a new row instead';
end;
$$;
create trigger audit_log_append_only before update or delete on strata_cloud.audit_log
  for each row execute function strata_cloud.audit_log_refuse_change();
create trigger audit_log_no_truncate before truncate on strata_cloud.audit_log
  for each statement execute function strata_cloud.audit_log_refuse_change();

create table strata_cloud.idempotency_keys (
  tenant_id text not null,
  idempotency_key text not null,
  -- sha256 of method, path and the canonical JSON body: the same key with another request is refused.
  fingerprint text not null,
  created_at timestamptz not null default now(),
  -- When the request that owns the key started (again, after a takeover of an abandoned one).
  claimed_at timestamptz not null default now(),
  completed_at timestamptz,
  status_code integer,
  content_type text,
  response_body text,
  primary key (tenant_id, idempotency_key)
);
create index idempotency_keys_created on strata_cloud.idempotency_keys (created_at);
