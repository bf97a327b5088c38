-- Queues, cron schedules, executor heartbeats and retention. See docs/schema.md.

-- A queued workflow waits as ENQUEUED with no executor and no application version; the executor
-- that claims it sets both, and it runs and recovers like any other workflow from then on.
alter table strata.workflows drop constraint workflows_status_check;
alter table strata.workflows add constraint workflows_status_check
  check (status in ('ENQUEUED', 'PENDING', 'SUCCESS', 'ERROR', 'CANCELLED'));
alter table strata.workflows alter column executor_id drop not null;
alter table strata.workflows alter column app_version drop not null;
alter table strata.workflows
  add column queue_name text,
  add column queue_partition text,
  add column priority integer not null default 0,
  add column deduplication_key text,
  add column queue_order bigint,
  add column not_before timestamptz,
  add column timeout_ms bigint,
  add column started_at timestamptz;

create sequence strata.queue_order;

-- The claim path: the head of a queue (or of one partition) in start order.
create index workflows_enqueued on strata.workflows (queue_name, priority, queue_order) where status = 'ENQUEUED';
create index workflows_enqueued_partition on strata.workflows (queue_name, queue_partition, priority, queue_order) where status = 'ENQUEUED';
-- Running counts per queue and partition (global and partition concurrency limits).
create index workflows_queue_running on strata.workflows (queue_name, queue_partition) where status = 'PENDING' and queue_name is not null;
-- Starts within the rate-limit window.
create index workflows_queue_started on strata.workflows (queue_name, started_at) where queue_name is not null;
-- A deduplication key is live while its workflow is queued or running.
create unique index workflows_deduplication on strata.workflows (queue_name, deduplication_key)
  where deduplication_key is not null and status in ('ENQUEUED', 'PENDING');
-- Retention deletes finished workflows oldest first.
create index workflows_completed_at on strata.workflows (completed_at) where completed_at is not null;
-- Takeover finds a dead executor's unfinished workflows.
create index workflows_pending_executor on strata.workflows (executor_id) where status = 'PENDING';

create table strata.queues (
  name text primary key,
  -- Most workflows of this queue running at once, over all executors (null: no limit).
  concurrency integer check (concurrency > 0),
  -- Most running at once in one executor (null: no limit).
  worker_concurrency integer check (worker_concurrency > 0),
  -- Most running at once per partition key (null: partitions are not limited).
  partition_concurrency integer check (partition_concurrency > 0),
  -- At most rate_limit starts per rate_period_ms (both null: no rate limit).
  rate_limit integer check (rate_limit > 0),
  rate_period_ms integer check (rate_period_ms > 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check ((rate_limit is null) = (rate_period_ms is null))
);

-- An enqueue locks its queue's row (FOR KEY SHARE), so a concurrent delete waits for it and then
-- sees it; an enqueue after the delete fails. Finished workflows keep no link to a deleted queue.
alter table strata.workflows add constraint workflows_queue_name_fkey
  foreign key (queue_name) references strata.queues (name) on delete set null;

create table strata.schedules (
  name text primary key,
  workflow_name text not null,
  cron text not null,
  timezone text not null default 'UTC',
  status text not null default 'ACTIVE' check (status in ('ACTIVE', 'PAUSED')),
  -- Start the ticks missed while no executor ran (off by default).
  catch_up boolean not null default false,
  -- Enqueue each tick's workflow on this queue instead of starting it at once.
  queue_name text,
  -- The latest tick a workflow was created for.
  last_tick_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table strata.executors (
  executor_id text primary key,
  app_version text not null,
  hostname text not null,
  pid integer not null,
  -- Random per process: tells a restarted process that got the same pid (pid 1 in a container) from the one before.
  process_instance text not null,
  -- The workflow names this executor can run (client enqueues are checked against them).
  workflow_names text[] not null default '{}',
  started_at timestamptz not null default now(),
  heartbeat_at timestamptz not null default now(),
  -- Set by a graceful shutdown; its unfinished workflows are taken over at once.
  stopped_at timestamptz
);

-- When the next delayed workflow of a queue becomes startable.
create index workflows_enqueued_not_before on strata.workflows (queue_name, not_before) where status = 'ENQUEUED' and not_before is not null;

-- Retention deletes workflows; the messages cascade needs a plain index on the foreign key.
create index messages_destination on strata.messages (destination_id);
