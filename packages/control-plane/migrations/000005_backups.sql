-- Backups, backup policies and restore points of instances (component "control-plane"). See packages/control-plane/README.md "Backups".

-- One backup of an instance. A row is RUNNING from the request until its workflow records the
-- outcome: only COMPLETED rows can be restored from, so a backup cut short is never listed as good.
create table strata_cloud.backups (
  backup_id text primary key,
  tenant_id text not null,
  instance_id text not null,
  node_id text not null,
  type text not null check (type in ('full', 'diff', 'incr')),
  -- initial: the first backup after a create/restore/fork; manual: the API; scheduled: the policy's cron.
  trigger text not null check (trigger in ('initial', 'manual', 'scheduled')),
  status text not null check (status in ('RUNNING', 'COMPLETED', 'FAILED', 'DELETING', 'DELETED', 'EXPIRED')),
  workflow_id text not null,
  -- pgBackRest's label and what it reported (null until COMPLETED).
  label text,
  prior_label text,
  started_at timestamptz,
  stopped_at timestamptz,
  restorable_from timestamptz,
  size_bytes bigint,
  -- What this backup added to the repository (compressed; a diff or incr stores only what changed).
  stored_bytes bigint,
  wal_start text,
  wal_stop text,
  error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index backups_instance on strata_cloud.backups (instance_id, created_at);
create index backups_tenant on strata_cloud.backups (tenant_id, created_at);
-- One running backup per instance (a second waits for pgBackRest's lock; the API refuses it instead).
create unique index backups_one_running on strata_cloud.backups (instance_id) where status = 'RUNNING';

-- How an instance is backed up: a cron schedule (a Strata schedule "backup.<instance_id>") and a retention.
create table strata_cloud.backup_policies (
  instance_id text primary key,
  tenant_id text not null,
  cron text,
  timezone text not null default 'UTC',
  type text not null default 'full' check (type in ('full', 'diff', 'incr')),
  retention_full_backups integer check (retention_full_backups > 0),
  retention_days integer check (retention_days > 0),
  check (retention_full_backups is null or retention_days is null),
  updated_at timestamptz not null default now()
);

-- Named moments of an instance that a restore can return to exactly.
create table strata_cloud.restore_points (
  instance_id text not null,
  tenant_id text not null,
  name text not null,
  status text not null check (status in ('PENDING', 'CREATED', 'FAILED')),
  workflow_id text not null,
  created_at timestamptz not null default now(),
  made_at timestamptz,
  -- Its WAL position: a restore to it starts from the newest backup that ended before it.
  lsn text,
  error text,
  primary key (instance_id, name)
);
